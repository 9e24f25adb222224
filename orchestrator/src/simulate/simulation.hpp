#pragma once
// `cohort simulate`: a whole job on this machine, in real processes over real TLS. It
// provisions an ephemeral project, starts one server and K client processes (the role
// environment included; K sized from a probe of one site's task with `workers = "auto"`),
// shows progress (a bar with rate and ETA on a terminal, a line per round otherwise), and
// prints a summary.

#include "config/toml_file.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::simulate {

struct SimulationOptions {
  std::filesystem::path recipe;
  /// Override the recipe's [simulation] settings when set.
  std::optional<std::int64_t> clients;
  /// Client processes; 0: auto (measured, see worker_plan.hpp).
  std::optional<std::int64_t> workers;
  std::optional<bool> insecure;
  /// Where everything goes (default: workspace/<job name>-<time>).
  std::filesystem::path workspace;
  /// Extra plugin directories (searched first).
  std::vector<std::filesystem::path> plugin_dirs;
  /// Log level for the child processes.
  std::string log_level = "info";
  /// Runs each server and client process's runtime under this command (e.g. heaptrack;
  /// process/runtime_commands.hpp, kRuntimeWrapperVariable); "%n" in an argument becomes the
  /// process's name.
  std::vector<std::string> process_wrapper;
  /// Override the recipe's job id (default: a new UUID).
  std::string job_id;
  /// `--set KEY=VALUE` applied to the recipe (the server runs the recipe they make).
  config::Overrides overrides;
  /// Print the layout (with the probe, when the workers are auto) and run nothing.
  bool plan_only = false;
  /// Print the summary as one JSON object on stdout (jobs::summary_json), everything else on
  /// stderr.
  bool json_summary = false;
  /// Serve the dashboard for the job on this address ("HOST:PORT") while it runs.
  std::optional<std::string> dashboard;
};

/// Runs the simulation; returns 0 when the job completed, 1 otherwise.
int run_simulation(const SimulationOptions& options, spdlog::logger& log);

}  // namespace cohort::simulate
