#pragma once
// Where a job's results live: <workspace>/jobs/<id>/
//   recipe.toml        the recipe as submitted (a link into app/ when files came with it)
//   app/               the files submitted with the recipe, the recipe among them, as they
//                      lay beside each other: what the recipe names by a relative path
//                      resolves there (a Python script and its helpers)
//   global_model.pt    the global model after the last round (torch.load reads it)
//   best_model.pt      the global model with the best key metric
//   metrics.csv        round,site,loss,accuracy,examples,seconds,extra   (job_files.hpp)
//   rounds.csv         one row per finished round (time, sites, server memory)
//   timeline.csv       when each part of each round happened (job_files.hpp, round_timeline.hpp)
//   memory/<process>.csv, logs/<process>.log
//   status.txt         how the job ended: its state, then why
//   state/             while it runs: what a restarted server resumes it from (resume_state.hpp)

#include "jobs/job_state.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::jobs {

/// Most bytes, and most files, a job may carry in app/.
inline constexpr std::uint64_t kMaxAppBytes = 64ull << 20;
inline constexpr std::size_t kMaxAppFiles = 4096;

/// `path` checked as the path of a file in a job's app/: relative, normalized, forward
/// slashes, no "." or ".." part, no hidden name. Throws std::invalid_argument saying why.
std::filesystem::path app_path(std::string_view path);

/// A file of a job's app/: its path there, and its bytes.
struct AppFile {
  std::string path;
  std::string bytes;
  bool operator==(const AppFile&) const = default;
};

/// A fresh job id (a random UUID, version 4).
std::string new_job_id();

/// The local time now as `format` (strftime), for names of run folders: "%Y%m%d_%H%M%S"
/// for a folder of results (memprofile, compare), "%Y%m%d-%H%M%S" after a job's name (a
/// simulation's workspace).
std::string timestamp(const char* format);

/// The folder of one job.
class JobDirectory {
 public:
  JobDirectory(const std::filesystem::path& workspace, const std::string& job_id);
  /// The job folder `root` itself (<workspace>/jobs/<id>).
  static JobDirectory at(const std::filesystem::path& root);
  /// The one job of `workspace` (what `cohort simulate` leaves); throws unless it has one.
  static JobDirectory only_job(const std::filesystem::path& workspace);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path recipe() const { return root_ / "recipe.toml"; }
  std::filesystem::path app() const { return root_ / "app"; }

  /// Writes app/<path> (checked by app_path) atomically.
  void write_app_file(const AppFile& file) const;
  /// Makes recipe.toml a link to app/<path>, the recipe among the job's files.
  void link_recipe(std::string_view path) const;
  /// The recipe's path in app/, when the job carries files (recipe.toml links there).
  std::optional<std::string> app_recipe() const;
  /// Where the recipe's relative paths start from: its place in app/, else recipe.toml.
  std::filesystem::path recipe_location() const;
  /// Every file of app/, as paths relative to it, sorted.
  std::vector<std::string> app_files() const;
  /// `<tag>.pt`, with "global" and "best" spelled global_model.pt and best_model.pt.
  std::filesystem::path artifact(const std::string& tag) const;
  std::filesystem::path metrics_csv() const { return root_ / "metrics.csv"; }
  std::filesystem::path rounds_csv() const { return root_ / "rounds.csv"; }
  std::filesystem::path timeline_csv() const { return root_ / "timeline.csv"; }
  /// What TensorBoard reads: tracking/<source>/events.out.tfevents.* ("server", "global", a
  /// site), and every scalar again as JSON lines in tracking/metrics.jsonl.
  std::filesystem::path tracking_folder() const { return root_ / "tracking"; }
  std::filesystem::path metrics_jsonl() const { return tracking_folder() / "metrics.jsonl"; }
  std::filesystem::path memory_csv(const std::string& process) const { return root_ / "memory" / (process + ".csv"); }
  std::filesystem::path log(const std::string& process) const { return root_ / "logs" / (process + ".log"); }
  std::filesystem::path memory_folder() const { return root_ / "memory"; }
  std::filesystem::path status_file() const { return root_ / "status.txt"; }

  /// How the job ended, as status.txt says: the state and why.
  struct Status {
    JobState state = JobState::completed;
    std::string message;
  };
  /// Writes status.txt atomically.
  void write_status(JobState state, const std::string& message) const;
  /// Reads status.txt; nothing while the job has not ended (or the file is not ours).
  std::optional<Status> read_status() const;

  /// Creates the folder and its subfolders.
  void create() const;

 private:
  std::filesystem::path root_;
};

}  // namespace cohort::jobs
