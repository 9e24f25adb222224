#pragma once
// The benchmark harness: runs real cohort jobs (and other measurements), keeps each
// figure with its baseline from the same run, and writes the results table.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cohort::bench {

/// Median, min and max of repeated measurements.
struct Stats {
  double median = 0, min = 0, max = 0;
  std::size_t runs = 0;
};
Stats stats(std::vector<double> values);

/// One line of the results table.
struct Row {
  std::string benchmark;
  std::string setting;
  Stats figure;
  std::string unit;
  /// The baseline measured in the same run, if the figure is compared with one.
  std::optional<Stats> baseline;
  std::string baseline_unit;
  /// The goal and whether the median meets it, e.g. "<= 1.1".
  std::string goal;
  bool met = false;
  std::string note;
};

/// Where benchmarks run jobs and keep their workspaces.
struct Context {
  std::filesystem::path cohort;     ///< the cohort executable
  std::filesystem::path work;       ///< scratch folder
  bool quick = false;               ///< fewer rounds and repetitions (smoke runs)
};

/// Runs `cohort simulate` on `recipe` in `work/name`; returns the job folder. Throws with
/// the tail of the output when the job does not complete.
std::filesystem::path simulate(const Context& ctx, const std::string& name, const std::string& recipe,
                               const std::map<std::string, std::string>& env = {});

/// Per round of finished jobs (rounds 2..N, where every buffer exists): the round's
/// seconds and the server's in-round peak above its between-rounds RSS, in models.
struct RoundFigures {
  std::vector<double> seconds, memory_ratio;
  void add(const std::filesystem::path& job);
};

/// A FedAvg job on the synthetic model and executor.
struct SyntheticJob {
  std::string name;
  std::int64_t rounds = 3;
  std::int64_t clients = 2;
  double model_mb = 100;
  std::int64_t workers = 0;      ///< client processes; 0: one per client
  bool insecure = false;         ///< plain TCP instead of mutual TLS
  std::int64_t compute_ms = 0;   ///< simulated training time per task
  std::string memory;            ///< extra lines for [memory]
  std::int64_t log_scalars = 0;  ///< scalars each site logs per task (tracking/)
  std::string controller = "fedavg";
  bool reuse_model_memory = false;  ///< [simulation] reuse_model_memory
};
std::string synthetic_recipe(const SyntheticJob& job);

/// Formats the table as Markdown.
std::string markdown(const std::vector<Row>& rows);

}  // namespace cohort::bench
