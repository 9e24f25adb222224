#include "jobs/job_summary.hpp"

#include "jobs/job_files.hpp"
#include "jobs/round_timeline.hpp"

#include <algorithm>
#include <iomanip>
#include <map>

namespace cohort::jobs {

namespace fs = std::filesystem;

void print_summary(std::ostream& out, const JobDirectory& directory, double seconds) {
  const auto ended = directory.read_status();
  const std::string status = ended ? std::string(to_string(ended->state)) : "UNKNOWN";
  out << "\nsummary: job " << status << " in " << std::fixed << std::setprecision(1) << seconds << " s\n";
  if (ended && !ended->message.empty()) out << "  " << ended->message << "\n";
  std::map<std::int64_t, double> accuracy_after;
  for (const auto& m : read_metrics(directory.metrics_csv())) {
    if (m.site == "global" && m.metrics.count("accuracy")) accuracy_after[m.round] = m.metrics.at("accuracy");
  }
  const auto rounds = read_rounds(directory.rounds_csv());
  if (!rounds.empty()) {
    out << "  round   seconds   accuracy (global model after the round)\n";
    for (const auto& r : rounds) {
      out << "  " << std::setw(5) << r.round + 1 << "  " << std::setw(8) << std::setprecision(2) << r.seconds << "   ";
      if (auto it = accuracy_after.find(r.round); it != accuracy_after.end()) out << std::setprecision(4) << it->second;
      else out << "-";
      out << "\n";
    }
  }
  if (const auto epsilon = privacy_spent(rounds))
    out << "  privacy spent: ε = " << std::setprecision(4) << *epsilon << " after round " << rounds.back().round + 1 << "\n";
  // Where a typical round's time went: the median round's parts, from timeline.csv.
  if (auto parts = round_parts(read_timeline(directory.timeline_csv())); !parts.empty()) {
    std::vector<RoundParts> sorted;
    for (const auto& [round, p] : parts) sorted.push_back(p);
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.seconds < b.seconds; });
    const auto& median = sorted[sorted.size() / 2];
    out << "  median round (" << median.round + 1 << " of " << sorted.size() << "): " << describe(median) << "\n";
  }
  out << "  peak RSS per process:\n";
  std::error_code ec;
  if (fs::is_directory(directory.memory_folder(), ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(directory.memory_folder())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      double peak = 0;
      for (const auto& row : read_memory(f)) peak = std::max(peak, row.peak_rss_mb);
      out << "    " << std::left << std::setw(12) << f.stem().string() << std::right << std::setw(9)
          << std::setprecision(1) << peak << " MiB\n";
    }
  }
  out << "  results in " << directory.root().string() << "\n";
}

nlohmann::json summary_json(const JobDirectory& directory, double seconds) {
  using nlohmann::json;
  const auto ended = directory.read_status();
  json rounds = json::array(), global = json::array(), peaks = json::object();
  for (const auto& r : read_rounds(directory.rounds_csv())) {
    rounds.push_back({{"round", r.round},
                      {"seconds", r.seconds},
                      {"results", r.results ? json(*r.results) : json()},
                      {"failed", r.failed ? json(*r.failed) : json()},
                      {"server_rss_mb", r.server_rss_mb},
                      {"server_round_peak_rss_mb", r.server_round_peak_rss_mb},
                      {"epsilon", r.epsilon ? json(*r.epsilon) : json()}});
  }
  for (const auto& m : read_metrics(directory.metrics_csv()))
    if (m.site == "global") global.push_back({{"round", m.round}, {"metrics", m.metrics}});
  std::error_code ec;
  if (fs::is_directory(directory.memory_folder(), ec)) {
    for (const auto& e : fs::directory_iterator(directory.memory_folder())) {
      double peak = 0;
      for (const auto& row : read_memory(e.path())) peak = std::max(peak, row.peak_rss_mb);
      peaks[e.path().stem().string()] = peak;
    }
  }
  return json{{"job_id", directory.root().filename().string()},
              {"status", ended ? std::string(to_string(ended->state)) : "UNKNOWN"},
              {"message", ended ? ended->message : ""},
              {"folder", directory.root().string()},
              {"seconds", seconds},
              {"rounds", rounds},
              {"global_metrics", global},
              {"peak_rss_mb", peaks}};
}

}  // namespace cohort::jobs
