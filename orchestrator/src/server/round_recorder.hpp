#pragma once
// What a job leaves of each round on the server: rounds.csv (time, results, server memory,
// privacy spent), metrics.csv, timeline.csv (when each part of a round happened), the
// server's memory/<process>.csv (its memory monitor), and the same figures as scalars for
// TensorBoard in tracking/ (jobs/tracking.hpp): the server's series (with the bytes its
// links moved in the round), the global model's and each site's metrics, a step per round,
// and what the sites logged while they ran. The job runner tells it when rounds
// start and end; the sites' I/O threads mark the timeline.

#include "hooks/memory_monitor.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/round_timeline.hpp"
#include "jobs/tracking.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::server {

class RoundRecorder {
 public:
  /// Opens (appends to) the job's records; `monitor` samples the server's memory.
  RoundRecorder(const jobs::JobDirectory& directory, std::unique_ptr<hooks::MemoryMonitor> monitor,
                std::shared_ptr<spdlog::logger> log, std::int64_t num_rounds);
  ~RoundRecorder();

  /// The files a resume cuts back to the last saved round (jobs::ResumeState::file_sizes).
  /// tracking/'s event files are not among them (a record is never cut): a resumed job
  /// writes new ones beside them, so a round redone after a crash shows twice there.
  static std::vector<std::filesystem::path> files(const jobs::JobDirectory& directory);

  /// Starts `round`: its clock and timeline, the server's RSS between rounds, its peak reset.
  void round_started(std::int64_t round);
  /// The index of the round's next broadcast (0, 1, ...).
  std::int64_t next_broadcast() { return broadcasts_in_round_++; }
  /// Records an event of the round's timeline (any thread).
  void mark(std::int64_t round, std::int64_t broadcast, const std::string& task, const std::string& site,
            const char* event);
  /// Drops what the timeline holds: it was no round's (the initial model asked of a site).
  void forget_timeline();
  /// Counts a broadcast's results folded and sites failed in this round.
  void count(std::size_t received, std::size_t failed);
  /// What the round's results are counted for (false: client-controlled workflows, whose
  /// sites gather the results).
  void set_counts_results(bool counts) { counts_results_ = counts; }

  /// Ends `round`: its timeline rows, its row of rounds.csv (with `epsilon` when the job has
  /// [privacy]) and the log lines that say where its time and memory went. Returns the row.
  jobs::RoundRow round_ended(std::int64_t round, std::uint64_t model_bytes, std::optional<double> epsilon);
  /// Tells the memory monitor how many rounds are done (after a round or a resume).
  void set_rounds_completed(std::int64_t rounds);
  void record_metrics(std::int64_t round, const std::string& site, const std::map<std::string, double>& metrics);
  /// Scalars `site` logged while it ran (any thread), to tracking/<site>; `dropped` is how
  /// many it has dropped in this job so far: when that grows, a warning says so, and the
  /// site's series scalars/dropped records it.
  void record_site_scalars(const std::string& site, std::vector<jobs::TrackedScalar> scalars, std::uint64_t dropped);
  /// Stops the memory monitor (after its last sample); says what tracking/ left out.
  void close();

 private:
  using Clock = std::chrono::steady_clock;
  std::shared_ptr<spdlog::logger> log_;
  std::int64_t num_rounds_;
  std::unique_ptr<hooks::MemoryMonitor> monitor_;
  jobs::MetricsWriter metrics_;
  jobs::RoundsWriter rounds_;
  jobs::TimelineWriter timeline_writer_;
  jobs::Tracking tracking_;
  bool counts_results_ = true;
  /// The round's row as scalars of the server's series in tracking/.
  void track(const jobs::RoundRow& row, const std::map<std::int64_t, jobs::RoundParts>& parts);
  /// Runs `write` on tracking_: tracking/ is a view of the job, so a failure to write it (a
  /// full disk, no descriptor left) is logged, never the job's or the reporting site's.
  void track_safely(const std::function<void()>& write);
  std::atomic<std::uint64_t> tracking_failures_{0};

  /// The drops each site reported so far (guarded: the sites' I/O threads report).
  std::mutex dropped_mutex_;
  std::map<std::string, std::uint64_t> site_dropped_;
  std::atomic<std::int64_t> round_{0};

  Clock::time_point round_start_;
  std::uint64_t rss_before_round_ = 0;
  /// net::bytes_sent() and bytes_received() when the round started.
  std::pair<std::uint64_t, std::uint64_t> bytes_at_round_start_{0, 0};
  std::size_t received_ = 0;
  std::size_t failed_ = 0;
  std::int64_t broadcasts_in_round_ = 0;
  /// This round's timeline so far, from its start (guarded: sites' steps come from the I/O
  /// threads).
  std::mutex timeline_mutex_;
  Clock::time_point timeline_start_;
  std::vector<jobs::TimelineRow> timeline_;
};

}  // namespace cohort::server
