#pragma once
// FedAvg: each round, sample sites, send them the global model, average what they send
// back (weighted by training steps and per-site weights) as it streams in, make that the
// new global model, persist it.

#include <cohort/aggregation.hpp>
#include <cohort/metrics.hpp>
#include <cohort/plugin.hpp>

#include <chrono>

#include <optional>
#include <string>
#include <vector>

namespace cohort::fedavg {

/// How many sites take part in a round.
enum class Sampling { min_clients, all, fraction };

/// "accuracy >= 0.9": stop once the key metric of the global model reaches a value.
struct StopCondition {
  std::string metric;
  std::string op;  // one of >=, >, <=, <
  double value = 0;
  bool met(double observed) const;
};

/// Parses "<metric> <op> <value>"; nothing for an empty string. Throws std::invalid_argument.
std::optional<StopCondition> parse_stop_condition(const std::string& text);

struct FedAvgConfig {
  Sampling sampling = Sampling::min_clients;
  double fraction = 1.0;
  /// Results needed for a round to count (0: every sampled site).
  std::int64_t min_responses = 0;
  /// Extra wait for the other sites once min_responses results arrived.
  std::chrono::milliseconds wait_after_min{0};
  /// Give up on a site's result after this long (0: wait until it answers or is lost).
  std::chrono::milliseconds task_timeout{0};
  /// Fail the job at the first failed result, even if enough others arrived.
  bool fail_on_any_error = false;
  std::map<std::string, double> site_weights;
  std::vector<std::string> exclude_vars;
  /// Picks best_model.pt (and the stop condition's metric when they agree).
  KeyMetric key_metric;
  std::optional<StopCondition> stop;
  /// Send a final "validate" task so that the last global model is evaluated too.
  bool final_validation = true;
  /// Average in the previous global model's memory (WeightedAverage::Options::in_place).
  bool aggregate_in_place = true;
};

/// Reads FedAvg's keys of `[controller.args]` (the caller finishes the table: workflows
/// built on FedAvg add keys of their own).
FedAvgConfig parse_config(const Args& args, const JobInfo& job);

/// FedAvg's loop. Workflows that aggregate the same way and only differ in how the
/// average becomes the next global model (FedOpt) override next_global().
class FedAvg : public Controller {
 public:
  explicit FedAvg(FedAvgConfig config) : config_(std::move(config)) {}
  void run(ControllerContext& ctx) override;

  /// Resumes after a round: the next round and the best key metric so far (sampling is
  /// the server's, and it resumes its own generator).
  bool resumable() const override { return true; }
  bool averages_results() const override { return true; }
  ControllerState save_state(std::int64_t round) const override;
  void restore_state(std::int64_t round, const ControllerState& state) override;

 protected:
  /// The next global model from the round's weighted average (FedAvg: the average).
  virtual Model next_global(ControllerContext& ctx, std::int64_t round, Model average) { return average; }
  /// Whether next_global() reads the previous global model (FedOpt steps from it). When
  /// not, the round averages in the previous global's memory (WeightedAverage::Options::in_place).
  virtual bool needs_previous_global() const { return false; }

 private:
  std::size_t sites_per_round(std::size_t available, const JobInfo& job) const;
  /// How the round's results are averaged: steps times the site's weight; exclude_vars.
  WeightedAverage::Options average_options() const;
  /// The broadcast's wait for `sampled` sites under the error policy.
  BroadcastOptions broadcast_options(std::size_t sampled) const;
  /// Throws JobError when the round's outcome breaks the error policy.
  void check_outcome(ControllerContext& ctx, std::int64_t round, std::size_t sampled,
                     const BroadcastOutcome& outcome) const;
  /// Records the global model's evaluation (the model that entered round `evaluated_round`
  /// + 1 is the one after `evaluated_round`); keeps best_model.pt; true when stop is met.
  bool evaluate_global(ControllerContext& ctx, std::int64_t evaluated_round,
                       const std::vector<ResultInfo>& results);
  /// Every site evaluates the last global model.
  void validate_final(ControllerContext& ctx);

  FedAvgConfig config_;
  /// The round run() starts with (after a resume, the one after the restored round).
  std::int64_t first_round_ = 0;
};

}  // namespace cohort::fedavg
