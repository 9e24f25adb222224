#include "jobs/tracking.hpp"

#include <cohort/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <limits>

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

nlohmann::json to_json(const TrackedScalar& scalar) {
  return nlohmann::json{{"source", scalar.source},
                        {"tag", scalar.tag},
                        {"step", scalar.step},
                        {"value", scalar.value},
                        {"wall_time", scalar.wall_time}};
}

nlohmann::json to_json(const TrackedPart& part) {
  nlohmann::json scalars = nlohmann::json::array();
  for (const auto& scalar : part.scalars) scalars.push_back(to_json(scalar));
  return nlohmann::json{{"scalars", std::move(scalars)}, {"cursor", part.cursor}};
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
  add_all({TrackedScalar{source, tag, step, value, 0}});
}

void Tracking::add_all(const std::vector<TrackedScalar>& scalars) {
  const double now = wall_time_now();
  std::lock_guard lock(mutex_);
  for (const auto& scalar : scalars) {
    if (!std::isfinite(scalar.value)) {
      ++dropped_;
      continue;
    }
    TrackedScalar stamped = scalar;
    if (!(std::isfinite(stamped.wall_time) && stamped.wall_time > 0)) stamped.wall_time = now;
    write(stamped);
  }
  flush();
}

void Tracking::write(const TrackedScalar& scalar) {
  auto& file = files_[scalar.source];
  if (!file) file = std::make_unique<EventFileWriter>(folder_ / tracking_folder_name(scalar.source));
  if (auto at = open_at_.find(file.get()); at != open_at_.end()) open_.splice(open_.begin(), open_, at->second);
  else open_at_[file.get()] = open_.insert(open_.begin(), file.get());
  file->append_scalar(scalar.tag, static_cast<float>(scalar.value), scalar.step, scalar.wall_time);
  // A tag is the site's text: bytes that are not UTF-8 become U+FFFD rather than an error.
  const std::string line = to_json(scalar).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), lines_) != line.size())
    throw IoError::from_errno(folder_ / "metrics.jsonl", "write", errno);
}

void Tracking::flush() {
  // The files written since the last flush are the open ones.
  for (EventFileWriter* file : open_) file->flush();
  while (open_.size() > kMostOpenEventFiles) {
    EventFileWriter* oldest = open_.back();
    open_.pop_back();
    open_at_.erase(oldest);
    oldest->close();
  }
  if (std::fflush(lines_) != 0) throw IoError::from_errno(folder_ / "metrics.jsonl", "write", errno);
}

std::vector<TrackedScalar> read_tracked(const JobDirectory& job) {
  return read_tracked(job, 0, std::numeric_limits<std::size_t>::max()).scalars;
}

TrackedPart read_tracked(const JobDirectory& job, std::uint64_t cursor, std::size_t most_bytes) {
  TrackedPart part{{}, cursor};
  std::ifstream in(job.metrics_jsonl(), std::ios::binary | std::ios::ate);
  if (!in) return part;
  const auto size = static_cast<std::uint64_t>(in.tellg());
  if (cursor >= size) return part;
  const std::uint64_t length = std::min<std::uint64_t>(size - cursor, most_bytes);
  std::string text(static_cast<std::size_t>(length), '\0');
  in.seekg(static_cast<std::streamoff>(cursor));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto end = text.rfind('\n');
  if (end == std::string::npos) return part;  // no whole line yet
  part.cursor = cursor + end + 1;
  for (std::size_t at = 0; at <= end;) {
    const auto next = text.find('\n', at);
    const auto json = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(at),
                                            text.begin() + static_cast<std::ptrdiff_t>(next), nullptr, false);
    at = next + 1;
    if (json.is_discarded() || !json.is_object()) continue;  // a line torn by a crash
    part.scalars.push_back({json.value("source", ""), json.value("tag", ""), json.value("step", std::int64_t{0}),
                            json.value("value", 0.0), json.value("wall_time", 0.0)});
  }
  return part;
}

}  // namespace cohort::jobs
