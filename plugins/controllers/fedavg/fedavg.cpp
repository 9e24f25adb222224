#include "fedavg.hpp"

#include <spdlog/logger.h>

#include <cmath>
#include <sstream>

namespace cohort::fedavg {

bool StopCondition::met(double observed) const {
  if (op == ">=") return observed >= value;
  if (op == ">") return observed > value;
  if (op == "<=") return observed <= value;
  return observed < value;
}

std::optional<StopCondition> parse_stop_condition(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::istringstream in(text);
  StopCondition c;
  std::string value;
  if (!(in >> c.metric >> c.op >> value) || !(in >> std::ws).eof())
    throw std::invalid_argument("expected \"<metric> <op> <value>\", e.g. \"accuracy >= 0.9\"");
  if (c.op != ">=" && c.op != ">" && c.op != "<=" && c.op != "<")
    throw std::invalid_argument("operator '" + c.op + "' is not one of >=, >, <=, <");
  try {
    std::size_t used = 0;
    c.value = std::stod(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
  } catch (const std::exception&) {
    throw std::invalid_argument("'" + value + "' is not a number");
  }
  return c;
}

FedAvgConfig parse_config(const Args& args, const JobInfo& job) {
  FedAvgConfig c;
  const auto sampling = args.get<std::string>("sampling", "min_clients");
  if (sampling == "min_clients") c.sampling = Sampling::min_clients;
  else if (sampling == "all") c.sampling = Sampling::all;
  else if (sampling == "fraction") c.sampling = Sampling::fraction;
  else args.fail("sampling", "expected \"min_clients\", \"all\" or \"fraction\", found \"" + sampling + "\"");
  c.fraction = args.get<double>("fraction", 1.0, between(1e-9, 1.0));
  c.min_responses = args.get<std::int64_t>("min_responses", 0, at_least(0));
  if (c.min_responses > 0 && c.sampling == Sampling::min_clients && c.min_responses > job.min_clients)
    args.fail("min_responses", "is larger than the " + std::to_string(job.min_clients) + " sites sampled per round (min_clients)");
  c.wait_after_min_s = args.get<double>("wait_after_min_s", 0.0, between(0, 86400));
  c.task_timeout_s = args.get<double>("task_timeout_s", 0.0, between(0, 7 * 86400));
  c.fail_on_any_error = args.get<bool>("fail_on_any_error", false);
  c.site_weights = args.get<std::map<std::string, double>>("site_weights", {}, at_least(0));
  c.exclude_vars = args.get<std::vector<std::string>>("exclude_vars", {});
  for (const auto& pattern : c.exclude_vars) {
    try {
      std::regex check(pattern);
    } catch (const std::regex_error& e) {
      args.fail("exclude_vars", "'" + pattern + "' is not a valid regular expression: " + e.what());
    }
  }
  c.key_metric = args.get<std::string>("key_metric", "accuracy");
  const auto mode = args.get<std::string>("key_metric_mode", "max");
  if (mode != "max" && mode != "min") args.fail("key_metric_mode", "expected \"max\" or \"min\"");
  c.higher_is_better = mode == "max";
  try {
    c.stop = parse_stop_condition(args.get<std::string>("stop_condition", ""));
  } catch (const std::invalid_argument& e) {
    args.fail("stop_condition", e.what());
  }
  c.final_validation = args.get<bool>("final_validation", true);
  return c;
}

std::size_t FedAvg::sites_per_round(std::size_t available, const JobInfo& job) const {
  switch (config_.sampling) {
    case Sampling::all: return available;
    case Sampling::fraction:
      return std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(config_.fraction * static_cast<double>(available))));
    case Sampling::min_clients: break;
  }
  return static_cast<std::size_t>(job.min_clients);
}

std::optional<double> FedAvg::mean_metric(const std::vector<ResultInfo>& results, const std::string& metric) {
  double sum = 0, weight = 0;
  for (const auto& r : results) {
    auto it = r.metrics.find(metric);
    if (it == r.metrics.end() || !std::isfinite(it->second)) continue;
    // Sites evaluate on their own share of the test set; weigh by its size when known.
    auto examples = r.metrics.find("test_examples");
    double w = examples != r.metrics.end() && examples->second > 0 ? examples->second : 1.0;
    sum += w * it->second;
    weight += w;
  }
  if (weight == 0) return std::nullopt;
  return sum / weight;
}

bool FedAvg::evaluate_global(ControllerContext& ctx, std::int64_t evaluated_round,
                             const std::vector<ResultInfo>& results) {
  auto value = mean_metric(results, config_.key_metric);
  if (!value || evaluated_round < 0) return false;
  Metrics global{{config_.key_metric, *value}};
  if (auto loss = mean_metric(results, "test_loss")) global["loss"] = *loss;
  ctx.record_metrics(evaluated_round, "global", global);
  ctx.log().info("global model after round {}: {} {:.4f}", evaluated_round, config_.key_metric, *value);
  const bool better = !best_ || (config_.higher_is_better ? *value > *best_ : *value < *best_);
  if (better) {
    // ctx.global_model() is still the model these results evaluated.
    best_ = *value;
    ctx.persist(ctx.global_model(), "best");
  }
  return config_.stop && config_.stop->metric == config_.key_metric && config_.stop->met(*value);
}

void FedAvg::run(ControllerContext& ctx) {
  const JobInfo& job = ctx.job();
  const auto seconds = [](double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000)); };
  for (std::int64_t round = 0; round < job.num_rounds; ++round) {
    if (ctx.abort_requested()) return;
    ctx.round_started(round);

    const auto sites = ctx.sample(sites_per_round(ctx.sites().size(), job));
    const std::size_t needed = config_.min_responses > 0
                                   ? std::min<std::size_t>(static_cast<std::size_t>(config_.min_responses), sites.size())
                                   : sites.size();
    WeightedAverage::Options options;
    options.exclude_vars = config_.exclude_vars;
    options.weight = [this](const ResultInfo& info) {
      auto it = config_.site_weights.find(info.site);
      return WeightedAverage::steps_weight(info) * (it == config_.site_weights.end() ? 1.0 : it->second);
    };
    WeightedAverage average(ctx.global_model(), options);
    const auto outcome = ctx.broadcast(Task{"train", round, ctx.global_model(), {}}, sites, average,
                                       {needed, seconds(config_.wait_after_min_s), seconds(config_.task_timeout_s)});

    for (const auto& f : outcome.failed) ctx.log().warn("round {}: site '{}' failed: {}", round, f.site, f.reason);
    if (outcome.received.size() < needed || (config_.fail_on_any_error && !outcome.failed.empty())) {
      std::string why = outcome.failed.empty() ? "no failure reported" : outcome.failed.front().site + ": " + outcome.failed.front().reason;
      throw JobError("round " + std::to_string(round) + ": " + std::to_string(outcome.received.size()) + " of " +
                     std::to_string(sites.size()) + " results arrived, " + std::to_string(needed) +
                     " needed (first failure: " + why + ")");
    }
    for (const auto& r : outcome.received) ctx.record_metrics(round, r.site, r.metrics);
    // The sites evaluated the model they received: the global model after round - 1.
    const bool stop = evaluate_global(ctx, round - 1, outcome.received);

    Model next = next_global(ctx, round, average.result(ctx.global_model()));
    next.round = round;
    ctx.set_global_model(std::move(next));
    ctx.persist(ctx.global_model(), "global");
    ctx.round_ended(round);
    if (stop) {
      ctx.log().info("stop condition met after round {}", round);
      return;
    }
  }

  if (config_.final_validation && !ctx.abort_requested()) {
    const auto sites = ctx.sites();
    MetricsOnly metrics_only;
    const auto outcome = ctx.broadcast(Task{"validate", job.num_rounds, ctx.global_model(), {}}, sites, metrics_only,
                                       {sites.size(), {}, seconds(config_.task_timeout_s)});
    evaluate_global(ctx, job.num_rounds - 1, outcome.received);
  }
}

}  // namespace cohort::fedavg
