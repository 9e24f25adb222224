#pragma once
/// @file metrics.hpp
/// The rules workflows share about metrics: their names, how the sites' reports of one
/// metric become the global model's figure, and which value of a key metric is best.

#include <cohort/args.hpp>
#include <cohort/export.hpp>
#include <cohort/stream.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

/// Metric names that executors report and workflows read.
namespace metric {
/// Fraction of the site's test examples classified right (of the model it received).
inline constexpr std::string_view accuracy = "accuracy";
/// Training loss of the task.
inline constexpr std::string_view loss = "loss";
/// Loss on the site's test examples (of the model it received).
inline constexpr std::string_view test_loss = "test_loss";
/// Training examples the task used.
inline constexpr std::string_view examples = "examples";
/// Test examples the site evaluated on: the weight of its evaluation in a mean.
inline constexpr std::string_view test_examples = "test_examples";
/// Seconds the task took on the site (the client measures it around the executor).
inline constexpr std::string_view seconds = "seconds";
}  // namespace metric

/// Longest tag of a scalar a site logs while it runs (ExecutorContext::log_scalar).
inline constexpr std::size_t kMaxScalarTagBytes = 256;

/// The mean of metric `name` over `results`, each weighted by the test examples it
/// reports (1 when missing or not positive); values that are not finite are skipped.
/// Nothing when no result reports a finite value.
COHORT_API std::optional<double> weighted_mean(const std::vector<ResultInfo>& results, std::string_view name);

/// The metric that picks a workflow's best model, the best value seen so far, and which
/// way is better.
class COHORT_API KeyMetric {
 public:
  /// `name`, better when higher (`higher_is_better`) or lower.
  explicit KeyMetric(std::string name = std::string(metric::accuracy), bool higher_is_better = true)
      : name_(std::move(name)), higher_is_better_(higher_is_better) {}

  /// Reads `key_metric` (default "accuracy") and `key_metric_mode` ("max", the default, or
  /// "min") from a workflow's args; errors name the key's position.
  static KeyMetric from_args(const Args& args);

  const std::string& name() const { return name_; }
  bool higher_is_better() const { return higher_is_better_; }

  /// Whether `value` beats `other` (any value beats none).
  bool better(double value, std::optional<double> other) const;
  /// Records `value` when it is the best so far; returns whether it was.
  bool improve(double value);
  /// The best value recorded.
  std::optional<double> best() const { return best_; }
  /// Carries the best value over a restart: `text` is what best_text() wrote.
  std::string best_text() const;
  void restore_best(const std::string& text);

 private:
  std::string name_;
  bool higher_is_better_ = true;
  std::optional<double> best_;
};

}  // namespace cohort
