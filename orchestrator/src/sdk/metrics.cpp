#include <cohort/metrics.hpp>

#include <cmath>
#include <cstdio>

namespace cohort {

std::optional<double> weighted_mean(const std::vector<ResultInfo>& results, std::string_view name) {
  double sum = 0, weight = 0;
  for (const auto& r : results) {
    auto it = r.metrics.find(std::string(name));
    if (it == r.metrics.end() || !std::isfinite(it->second)) continue;
    // Sites evaluate on their own share of the test set: weigh each by its size when known.
    auto examples = r.metrics.find(std::string(metric::test_examples));
    const double w =
        examples != r.metrics.end() && std::isfinite(examples->second) && examples->second > 0 ? examples->second : 1.0;
    sum += w * it->second;
    weight += w;
  }
  if (weight == 0) return std::nullopt;
  return sum / weight;
}

KeyMetric KeyMetric::from_args(const Args& args) {
  auto name = args.get<std::string>("key_metric", std::string(metric::accuracy));
  if (name.empty()) args.fail("key_metric", "must not be empty");
  const auto mode = args.choice("key_metric_mode", "max", {"max", "min"});
  return KeyMetric(std::move(name), mode == "max");
}

bool KeyMetric::better(double value, std::optional<double> other) const {
  if (!other) return true;
  return higher_is_better_ ? value > *other : value < *other;
}

bool KeyMetric::improve(double value) {
  if (!better(value, best_)) return false;
  best_ = value;
  return true;
}

std::string KeyMetric::best_text() const {
  if (!best_) return "";
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", *best_);  // 17 digits: the same double back
  return text;
}

void KeyMetric::restore_best(const std::string& text) {
  best_ = text.empty() ? std::nullopt : std::optional<double>(std::stod(text));
}

}  // namespace cohort
