#pragma once
// The CSV files of a job's folder, as typed rows: one writer and one reader each, keyed
// by column name (see csv.hpp).
//
//   rounds.csv             one row per finished round (time, results, server memory)
//   metrics.csv            one row per (round, site) of reported metrics
//   memory/<process>.csv   a process's memory samples over time

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
};

/// Appends to rounds.csv.
class RoundsWriter {
 public:
  explicit RoundsWriter(const std::filesystem::path& file);
  void append(const RoundRow& row);

 private:
  CsvWriter csv_;
};

/// Reads rounds.csv (what is there so far).
std::vector<RoundRow> read_rounds(const std::filesystem::path& file);

/// A row of metrics.csv: what `site` reported for `round` ("global": the global model's
/// evaluation after the round). Columns loss, accuracy, examples and seconds, then every
/// other metric as name=value;name=value in `extra`.
struct MetricsRow {
  std::int64_t round = 0;
  std::string site;
  std::map<std::string, double> metrics;
};

/// Appends to metrics.csv.
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::filesystem::path& file);
  void append(const MetricsRow& row);

 private:
  CsvWriter csv_;
};

/// Reads metrics.csv (what is there so far).
std::vector<MetricsRow> read_metrics(const std::filesystem::path& file);

/// A row of memory/<process>.csv: one sample of a process's memory.
struct MemoryRow {
  double elapsed_s = 0;
  double rss_mb = 0;
  double peak_rss_mb = 0;
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

/// Appends to memory/<process>.csv.
class MemoryWriter {
 public:
  explicit MemoryWriter(const std::filesystem::path& file);
  void append(const MemoryRow& row);

 private:
  CsvWriter csv_;
};

/// Reads memory/<process>.csv (what is there so far).
std::vector<MemoryRow> read_memory(const std::filesystem::path& file);

}  // namespace cohort::jobs
