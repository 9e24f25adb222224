#pragma once
// The CSV files of a job's folder, as typed rows: one writer and one reader each, keyed
// by column name (see csv.hpp).
//
//   rounds.csv             one row per finished round (time, results, server memory)
//   metrics.csv            one row per (round, site) of reported metrics
//   memory/<process>.csv   a process's memory samples over time
//   timeline.csv           when each part of each round happened on the server

#include "jobs/csv.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cohort::jobs {

/// A row of rounds.csv.
struct RoundRow {
  std::int64_t round = 0;
  double seconds = 0;
  /// Results folded and sites failed; none for client-controlled workflows, whose
  /// results are gathered on the sites.
  std::optional<std::int64_t> results;
  std::optional<std::int64_t> failed;
  double server_rss_mb = 0;
  /// The server's peak RSS within the round.
  double server_round_peak_rss_mb = 0;
  /// Bytes the allocator holds free (fragmentation), after the round.
  double server_alloc_free_mb = 0;
  /// The server's RSS between rounds (global model loaded, nothing of the round yet).
  double server_rss_before_round_mb = 0;
  /// Live tensor bytes after the round, when accounting is on.
  std::optional<double> server_tensor_mb;
  double model_mb = 0;
  /// The privacy spent after the round (ε at the recipe's target_delta), written with 17
  /// significant digits (it reads back bit for bit); none without [privacy].
  std::optional<double> epsilon;
};

/// The privacy spent after the last round (its `epsilon`), when the job has [privacy].
std::optional<double> privacy_spent(const std::vector<RoundRow>& rounds);

/// A row of metrics.csv: what `site` reported for `round` ("global": the global model's
/// evaluation after the round). Columns loss, accuracy, examples and seconds, then every
/// other metric as name=value;name=value in `extra`.
struct MetricsRow {
  std::int64_t round = 0;
  std::string site;
  std::map<std::string, double> metrics;
};

/// A row of memory/<process>.csv: one sample of a process's memory.
struct MemoryRow {
  double elapsed_s = 0;
  double rss_mb = 0;
  double peak_rss_mb = 0;
  /// RSS of the processes it started (a site's Python script), and of theirs.
  double children_rss_mb = 0;
  /// What the allocator handed out, and what it holds free.
  double alloc_live_mb = 0;
  double alloc_free_mb = 0;
  /// Live tensor bytes, when accounting is on.
  std::optional<double> tensor_mb;
  double sys_total_mb = 0;
  double sys_available_mb = 0;
  double sys_used_percent = 0;
  double cpu_percent = 0;
  std::uint64_t cleanups = 0;
  std::int64_t round = -1;
  /// "glibc", "jemalloc" or "unknown".
  std::string allocator;
};

/// A row of timeline.csv: one event of a round as the server saw it, `seconds` after the
/// round started. Broadcast `broadcast` (0, 1, ... within the round) of task `task` gives,
/// per site: sent (the task's model is written to the site's connection), accepted (the
/// site's worker took it), result_began (the result's header arrived), result_ended (its
/// last byte is folded in) or failed; and, for site "server": broadcast_began,
/// broadcast_ended. The round's last row is "round_ended" (broadcast -1, site "server").
struct TimelineRow {
  std::int64_t round = 0;
  std::int64_t broadcast = -1;
  std::string task;
  std::string site;
  std::string event;
  double seconds = 0;
};

/// Appends rows of one of the types above to its file, creating it with its header.
template <class Row>
class RowWriter {
 public:
  explicit RowWriter(const std::filesystem::path& file);
  void append(const Row& row);

 private:
  CsvWriter csv_;
};

/// Reads the rows of one of the types above from its file (what is there so far).
template <class Row>
std::vector<Row> read_rows(const std::filesystem::path& file);

// Defined for these four row types only (job_files.cpp).
extern template class RowWriter<RoundRow>;
extern template class RowWriter<TimelineRow>;
extern template class RowWriter<MetricsRow>;
extern template class RowWriter<MemoryRow>;
extern template std::vector<RoundRow> read_rows<RoundRow>(const std::filesystem::path&);
extern template std::vector<MetricsRow> read_rows<MetricsRow>(const std::filesystem::path&);
extern template std::vector<MemoryRow> read_rows<MemoryRow>(const std::filesystem::path&);
extern template std::vector<TimelineRow> read_rows<TimelineRow>(const std::filesystem::path&);

using RoundsWriter = RowWriter<RoundRow>;
using MetricsWriter = RowWriter<MetricsRow>;
using MemoryWriter = RowWriter<MemoryRow>;
using TimelineWriter = RowWriter<TimelineRow>;

inline std::vector<RoundRow> read_rounds(const std::filesystem::path& file) { return read_rows<RoundRow>(file); }
inline std::vector<MetricsRow> read_metrics(const std::filesystem::path& file) { return read_rows<MetricsRow>(file); }
inline std::vector<MemoryRow> read_memory(const std::filesystem::path& file) { return read_rows<MemoryRow>(file); }
inline std::vector<TimelineRow> read_timeline(const std::filesystem::path& file) { return read_rows<TimelineRow>(file); }

}  // namespace cohort::jobs
