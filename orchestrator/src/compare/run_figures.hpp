#pragma once
// What one run of a comparison came to, read from its job folder, and the mean and spread
// of a method's runs. Pure: no processes, so the arithmetic is tested on its own.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cohort::compare {

/// The metric a comparison ranks by (recorded by the server as site "global").
struct MetricGoal {
  std::string name = "accuracy";
  /// Higher is better ("max") or lower ("min").
  bool maximize = true;
  /// Rounds to reach this value, when given.
  std::optional<double> target;
};

/// One run's figures.
struct RunFigures {
  std::string method;
  std::int64_t repeat = 0;
  std::int64_t seed = 0;
  /// The job's final state (COMPLETED, FAILED, ...), or INTERRUPTED.
  std::string status;
  std::int64_t rounds = 0;
  double wall_s = 0;
  /// The global metric after each round (index: round), where it was recorded.
  std::vector<std::optional<double>> per_round;
  std::optional<double> final_value, best_value;
  /// The first round (1-based) whose global model reached the target.
  std::optional<std::int64_t> rounds_to_target;
  /// Peak RSS (MiB): the server; the largest client process (its children included).
  double server_peak_mb = 0, client_peak_mb = 0;
  /// Least-squares RSS slope (MiB/round) from round 10 (or 1 in a shorter run) to the
  /// last: the server; the largest of the client processes.
  double server_drift_mb = 0, client_drift_mb = 0;
  /// The privacy spent (ε after the last round), for a run with [privacy].
  std::optional<double> epsilon;
};

/// Reads the job folder `job` of one run.
RunFigures read_run(const std::filesystem::path& job, const MetricGoal& goal);

/// Mean and sample standard deviation, over the values present.
struct Spread {
  std::size_t n = 0;
  double mean = 0, std = 0;
};
Spread spread(const std::vector<std::optional<double>>& values);

/// "0.8123 ± 0.0040" (or "–" with no value); `decimals` after the point.
std::string describe(const Spread& s, int decimals);

}  // namespace cohort::compare
