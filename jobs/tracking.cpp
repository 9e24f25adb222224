#include "jobs/tracking.hpp"

#include <cohort/error.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <fstream>

namespace cohort::jobs {

std::string tracking_folder_name(const std::string& source) {
  if (source.empty() || source == "." || source == "..") return "_";
  std::string out = source;
  for (char& c : out) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '@' || c == '-';
    if (!plain) c = '_';
  }
  return out;
}

Tracking::Tracking(const JobDirectory& job) : folder_(job.tracking_folder()) {
  std::filesystem::create_directories(folder_);
  lines_ = std::fopen(job.metrics_jsonl().c_str(), "ab");
  if (!lines_) throw IoError::from_errno(job.metrics_jsonl(), "open", errno);
}

Tracking::~Tracking() {
  if (lines_) std::fclose(lines_);
}

void Tracking::add(const std::string& source, const std::string& tag, double value, std::int64_t step) {
  if (!std::isfinite(value)) {
    ++dropped_;
    return;
  }
  const double now = wall_time_now();
  const std::string line =
      nlohmann::json{{"source", source}, {"tag", tag}, {"step", step}, {"value", value}, {"wall_time", now}}.dump() + "\n";
  std::lock_guard lock(mutex_);
  auto& file = files_[source];
  if (!file) file = std::make_unique<EventFileWriter>(folder_ / tracking_folder_name(source));
  file->add_scalar(tag, static_cast<float>(value), step, now);
  if (std::fwrite(line.data(), 1, line.size(), lines_) != line.size() || std::fflush(lines_) != 0)
    throw IoError::from_errno(folder_ / "metrics.jsonl", "write", errno);
}

std::vector<TrackedScalar> read_tracked(const JobDirectory& job) {
  std::vector<TrackedScalar> out;
  std::ifstream in(job.metrics_jsonl());
  for (std::string line; std::getline(in, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object()) continue;  // a line torn by a crash
    out.push_back({json.value("source", ""), json.value("tag", ""), json.value("step", std::int64_t{0}),
                   json.value("value", 0.0), json.value("wall_time", 0.0)});
  }
  return out;
}

}  // namespace cohort::jobs
