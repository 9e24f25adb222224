#pragma once
// Where a job's results live: <workspace>/jobs/<id>/
//   recipe.toml        the recipe as submitted
//   global_model.pt    the global model after the last round (torch.load reads it)
//   best_model.pt      the global model with the best key metric
//   metrics.csv        round,site,loss,accuracy,examples,seconds,extra
//   rounds.csv         one row per finished round (time, sites, server memory)
//   memory/<process>.csv, logs/<process>.log

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

namespace cohort::jobs {

/// A fresh job id (a random UUID, version 4).
std::string new_job_id();

/// The folder of one job.
class JobDirectory {
 public:
  JobDirectory(const std::filesystem::path& workspace, const std::string& job_id);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path recipe() const { return root_ / "recipe.toml"; }
  /// `<tag>.pt`, with "global" and "best" spelled global_model.pt and best_model.pt.
  std::filesystem::path artifact(const std::string& tag) const;
  std::filesystem::path metrics_csv() const { return root_ / "metrics.csv"; }
  std::filesystem::path rounds_csv() const { return root_ / "rounds.csv"; }
  std::filesystem::path memory_csv(const std::string& process) const { return root_ / "memory" / (process + ".csv"); }
  std::filesystem::path log(const std::string& process) const { return root_ / "logs" / (process + ".log"); }

  /// Creates the folder and its subfolders.
  void create() const;

 private:
  std::filesystem::path root_;
};

/// Appends rows to a CSV file with a fixed header; each row is flushed at once, so a
/// reader (or a crash) never sees half a row. Thread-safe.
class CsvLog {
 public:
  CsvLog(std::filesystem::path file, std::string header);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;
  /// Appends `row` (already comma-separated, no newline).
  void append(const std::string& row);

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
};

/// The header of metrics.csv.
inline constexpr const char* kMetricsHeader = "round,site,loss,accuracy,examples,seconds,extra";

/// One metrics.csv row: the named columns, then every other metric as k=v;k=v in extra.
std::string metrics_row(std::int64_t round, const std::string& site, const std::map<std::string, double>& metrics);

}  // namespace cohort::jobs
