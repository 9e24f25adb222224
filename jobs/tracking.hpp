#pragma once
// A job's tracking/ folder: its scalars as TensorBoard event files, one folder per source
// (tracking/server: the server's own series per round; tracking/global: the global model's
// metrics; tracking/<site>: what each site reported), and every scalar again as a line of
// tracking/metrics.jsonl: {"source", "tag", "step", "value", "wall_time"}.
// `tensorboard --logdir <job>/tracking` shows them, a run per source.

#include "jobs/event_file.hpp"
#include "jobs/job_directory.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace cohort::jobs {

inline constexpr std::size_t kMostOpenEventFiles = 64;

/// One scalar of a job.
struct TrackedScalar {
  std::string source;
  std::string tag;
  std::int64_t step = 0;
  double value = 0;
  double wall_time = 0;
};

/// A scalar as a line of metrics.jsonl has it: {"source", "tag", "step", "value", "wall_time"}
/// (what the admin protocol's tracking command sends too).
nlohmann::json to_json(const TrackedScalar& scalar);

/// Writes a job's scalars. Thread-safe. At most kMostOpenEventFiles event files are open at
/// once (the least recently written is closed, and opened again to append): a server with
/// 10,000 sites must not hold a descriptor per site beside its connection.
class Tracking {
 public:
  explicit Tracking(const JobDirectory& job);
  ~Tracking();
  Tracking(const Tracking&) = delete;
  Tracking& operator=(const Tracking&) = delete;

  /// Records `value` of `tag` at `step` for `source`, now. A value that is not finite is
  /// not written (TensorBoard and JSON have no place for it): it is counted in dropped().
  void add(const std::string& source, const std::string& tag, double value, std::int64_t step);
  /// Records `scalars` (each of its source, at its wall time; now where that is not set), as
  /// add() does, with one flush of each file.
  void add_all(const std::vector<TrackedScalar>& scalars);
  /// The scalars not written, for a value that was not finite.
  std::uint64_t dropped() const { return dropped_; }

 private:
  std::filesystem::path folder_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<EventFileWriter>> files_;
  /// The open event files, the most recently written first.
  std::list<EventFileWriter*> open_;
  std::unordered_map<EventFileWriter*, std::list<EventFileWriter*>::iterator> open_at_;
  std::FILE* lines_ = nullptr;
  std::atomic<std::uint64_t> dropped_{0};

  /// Writes `scalar` to its source's event file and metrics.jsonl, unflushed (mutex_ held).
  void write(const TrackedScalar& scalar);
  /// Flushes what write() wrote, and closes the files beyond kMostOpenEventFiles (mutex_ held).
  void flush();
};

/// The folder name of `source` under tracking/: its name where that is a plain file name,
/// else with each character outside [A-Za-z0-9._@-] as '_' ("." and ".." become "_").
std::string tracking_folder_name(const std::string& source);

/// The scalars of tracking/metrics.jsonl (what is there so far; a torn last line is left out).
std::vector<TrackedScalar> read_tracked(const JobDirectory& job);

/// Part of tracking/metrics.jsonl: the scalars of its whole lines from byte `cursor` on, at
/// most `most_bytes` of them, and the cursor to go on from (after the last whole line read).
struct TrackedPart {
  std::vector<TrackedScalar> scalars;
  std::uint64_t cursor = 0;
};
TrackedPart read_tracked(const JobDirectory& job, std::uint64_t cursor, std::size_t most_bytes);
/// {"scalars": [to_json(scalar), ...], "cursor"}: the admin protocol's tracking reply.
nlohmann::json to_json(const TrackedPart& part);

}  // namespace cohort::jobs
