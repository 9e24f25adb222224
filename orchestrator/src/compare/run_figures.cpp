#include "compare/run_figures.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/memory_trend.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::compare {

RunFigures read_run(const fs::path& job, const MetricGoal& goal) {
  const auto dir = jobs::JobDirectory::at(job);
  RunFigures f;
  if (auto status = dir.read_status()) f.status = jobs::to_string(status->state);
  const auto rounds = jobs::read_rounds(dir.rounds_csv());
  f.rounds = static_cast<std::int64_t>(rounds.size());
  f.epsilon = jobs::privacy_spent(rounds);
  for (const auto& m : jobs::read_metrics(dir.metrics_csv())) {
    auto it = m.metrics.find(goal.name);
    if (m.site != "global" || it == m.metrics.end() || m.round < 0) continue;
    if (static_cast<std::size_t>(m.round) >= f.per_round.size()) f.per_round.resize(m.round + 1);
    f.per_round[m.round] = it->second;
  }
  for (std::size_t round = 0; round < f.per_round.size(); ++round) {
    if (!f.per_round[round]) continue;
    const double v = *f.per_round[round];
    f.final_value = v;
    if (!f.best_value || (goal.maximize ? v > *f.best_value : v < *f.best_value)) f.best_value = v;
    if (goal.target && !f.rounds_to_target && (goal.maximize ? v >= *goal.target : v <= *goal.target))
      f.rounds_to_target = static_cast<std::int64_t>(round) + 1;
  }
  std::error_code ec;
  if (fs::is_directory(dir.memory_folder(), ec)) {
    for (const auto& e : fs::directory_iterator(dir.memory_folder())) {
      double peak = 0;
      std::int64_t last_round = 0;
      for (const auto& row : jobs::read_memory(e.path())) {
        peak = std::max(peak, row.peak_rss_mb + row.children_rss_mb);
        last_round = std::max(last_round, row.round);
      }
      const auto rss = jobs::by_round(e.path());
      const double drift = jobs::slope(rss, last_round >= 20 ? 10 : 1, last_round);
      if (e.path().stem() == "server") {
        f.server_peak_mb = peak;
        f.server_drift_mb = drift;
      } else if (peak > f.client_peak_mb) {
        f.client_peak_mb = peak;
      }
      if (e.path().stem() != "server" && std::abs(drift) > std::abs(f.client_drift_mb)) f.client_drift_mb = drift;
    }
  }
  return f;
}

Spread spread(const std::vector<std::optional<double>>& values) {
  Spread s;
  double sum = 0;
  for (const auto& v : values) {
    if (!v) continue;
    ++s.n;
    sum += *v;
  }
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n > 1) {
    double squares = 0;
    for (const auto& v : values)
      if (v) squares += (*v - s.mean) * (*v - s.mean);
    s.std = std::sqrt(squares / static_cast<double>(s.n - 1));
  }
  return s;
}

std::string describe(const Spread& s, int decimals) {
  if (s.n == 0) return "–";
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << s.mean;
  if (s.n > 1) out << " ± " << s.std;
  return out.str();
}

}  // namespace cohort::compare
