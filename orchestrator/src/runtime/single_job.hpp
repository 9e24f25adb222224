#pragma once
// A recipe run as a server's only job, then the end: `cohort server --run-job` (the server
// process of `simulate`) and rank 0 of `cohort mpi`. The job's folder, memory monitor,
// checkpoints and status file are the same whatever carries the sites' bytes.

#include "model_zoo.hpp"
#include "recipe/recipe.hpp"
#include "server/job_runner.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cohort::runtime {

struct SingleJob {
  std::filesystem::path recipe_file;
  /// `--set KEY=VALUE` applied to the recipe.
  std::vector<std::string> overrides;
  /// The job's id ("" : a new one).
  std::string job_id;
  /// The sites that take part (empty: the recipe's).
  std::vector<std::string> sites;
  std::chrono::milliseconds start_timeout{120000};
  std::filesystem::path workspace;
  /// The server process's name (memory/<name>.csv, logs).
  std::string process_name = "server";
  std::vector<std::filesystem::path> plugin_dirs;
  /// What a termination signal means, for the job's message.
  std::string on_signal = "aborted by a signal";
};

/// The recipe read and checked with its plugins; throws a located error (exit status 2)
/// when it is wrong.
struct LoadedJob {
  recipe::Recipe recipe;
  /// Its [model], for the initial global model.
  models::ModelSpec model;
};
LoadedJob load_job(const SingleJob& job);

/// Runs `loaded` on `server` (started) until it ends; a termination signal aborts it.
/// `on_runner` hears of the runner once it exists and with null once the job has ended
/// (to abort it from elsewhere).
server::JobResult run_single_job(server::Server& server, const SingleJob& job, LoadedJob loaded,
                                 const std::shared_ptr<spdlog::logger>& log,
                                 const std::function<void(server::JobRunner*)>& on_runner = {});

}  // namespace cohort::runtime
