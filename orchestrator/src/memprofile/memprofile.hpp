#pragma once
// `cohort memprofile`: NVIDIA FLARE's FedAvg memory experiment, made real. For each
// cleanup setting (gc_rounds = N applies to server_memory_gc_rounds and
// client_memory_gc_rounds), a FedAvg job with a synthetic model of model_size_mb runs in
// its own process tree (`cohort memprofile --single N`, which runs `cohort simulate`);
// every process samples its RSS. The result: the seed's summary table per role (initial
// RSS before the model exists, final, increase, reduction against cleanup disabled), a
// CSV of RSS over time, a plot (PNG and an HTML page) and, with heaptrack, per-process
// peak heap, leaks, top allocation sites and a flame graph. All in a timestamped folder.
// With transport "mpi" each setting runs under `mpirun` (`cohort mpi`): rank 0 is the
// server, the other ranks the clients, one per rank. `--compare A B` puts two such
// folders side by side, process by process, with the change in percent.

#include "process/launch.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::memprofile {

/// The experiment: its settings (process::MemprofileLaunch, what a setting's own process
/// tree is started with) and the cleanup settings to compare.
struct MemprofileOptions : process::MemprofileLaunch {
  std::vector<std::int64_t> gc_rounds{0, 5, 1};
};

/// RSS figures of one process over one run, in MiB.
struct ProcessFigures {
  std::string process;
  std::string role;  ///< "server" or "client"
  double initial_mb = 0;
  double final_mb = 0;
  double peak_mb = 0;
  double increase_mb() const { return final_mb - initial_mb; }
};

/// The recipe one setting runs.
std::string experiment_recipe(const MemprofileOptions& options, std::int64_t gc_rounds);

/// Initial, final and peak RSS of every process of a finished job folder.
std::vector<ProcessFigures> figures_of(const std::filesystem::path& job);

/// Runs the experiment (or one setting with `single`); returns the exit status.
int run_memprofile(const MemprofileOptions& options, spdlog::logger& log);

/// Two experiments' folders side by side: for each setting and process in both, initial,
/// final and peak RSS of each and the change from `a` to `b` in percent; printed, and
/// written to `output`/compare.csv. Returns the exit status.
int compare_memprofiles(const std::filesystem::path& a, const std::filesystem::path& b,
                        const std::filesystem::path& output);

}  // namespace cohort::memprofile
