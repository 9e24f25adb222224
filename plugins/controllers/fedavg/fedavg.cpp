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
  const auto sampling = args.choice("sampling", "min_clients", {"min_clients", "all", "fraction"});
  c.sampling = sampling == "all" ? Sampling::all : sampling == "fraction" ? Sampling::fraction : Sampling::min_clients;
  c.fraction = args.get<double>("fraction", 1.0, between(1e-9, 1.0));
  c.min_responses = args.get<std::int64_t>("min_responses", 0, at_least(0));
  if (c.min_responses > 0 && c.sampling == Sampling::min_clients && c.min_responses > job.min_clients)
    args.fail("min_responses", "is larger than the " + std::to_string(job.min_clients) + " sites sampled per round (min_clients)");
  c.wait_after_min = args.seconds("wait_after_min_s", {}, between(0, 86400));
  c.task_timeout = args.seconds("task_timeout_s", {}, between(0, 7 * 86400));
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
  c.key_metric = KeyMetric::from_args(args);
  try {
    c.stop = parse_stop_condition(args.get<std::string>("stop_condition", ""));
  } catch (const std::invalid_argument& e) {
    args.fail("stop_condition", e.what());
  }
  c.final_validation = args.get<bool>("final_validation", true);
  c.aggregate_in_place = args.get<bool>("aggregate_in_place", true);
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

WeightedAverage::Options FedAvg::average_options() const {
  WeightedAverage::Options options;
  options.exclude_vars = config_.exclude_vars;
  options.in_place = config_.aggregate_in_place && !needs_previous_global();
  options.weight = [this](const ResultInfo& info) {
    auto it = config_.site_weights.find(info.site);
    return WeightedAverage::steps_weight(info) * (it == config_.site_weights.end() ? 1.0 : it->second);
  };
  return options;
}

BroadcastOptions FedAvg::broadcast_options(std::size_t sampled) const {
  const std::size_t needed =
      config_.min_responses > 0 ? std::min<std::size_t>(static_cast<std::size_t>(config_.min_responses), sampled) : sampled;
  return BroadcastOptions{needed, config_.wait_after_min, config_.task_timeout, {}};
}

void FedAvg::check_outcome(ControllerContext& ctx, std::int64_t round, std::size_t sampled,
                           const BroadcastOutcome& outcome) const {
  for (const auto& f : outcome.failed) ctx.log().warn("round {}: site '{}' failed: {}", round, f.site, f.reason);
  const std::size_t needed = broadcast_options(sampled).min_responses;
  if (outcome.received.size() >= needed && !(config_.fail_on_any_error && !outcome.failed.empty())) return;
  const std::string why =
      outcome.failed.empty() ? "no failure reported" : outcome.failed.front().site + ": " + outcome.failed.front().reason;
  throw JobError("round " + std::to_string(round) + ": " + std::to_string(outcome.received.size()) + " of " +
                 std::to_string(sampled) + " results arrived, " + std::to_string(needed) +
                 " needed (first failure: " + why + ")");
}

bool FedAvg::evaluate_global(ControllerContext& ctx, std::int64_t evaluated_round,
                             const std::vector<ResultInfo>& results) {
  const auto value = weighted_mean(results, config_.key_metric.name());
  if (!value || evaluated_round < 0) return false;
  Metrics global{{config_.key_metric.name(), *value}};
  if (auto loss = weighted_mean(results, metric::test_loss)) global[std::string(metric::loss)] = *loss;
  ctx.record_metrics(evaluated_round, "global", global);
  ctx.log().info("global model after round {}: {} {:.4f}", evaluated_round, config_.key_metric.name(), *value);
  // ctx.global_model() is still the model these results evaluated.
  if (config_.key_metric.improve(*value)) ctx.persist(ctx.global_model(), "best");
  return config_.stop && config_.stop->metric == config_.key_metric.name() && config_.stop->met(*value);
}

void FedAvg::validate_final(ControllerContext& ctx) {
  const auto sites = ctx.sites();
  MetricsOnly metrics_only;
  const auto outcome = ctx.broadcast(Task{"validate", ctx.job().num_rounds, ctx.global_model(), {}}, sites, metrics_only,
                                     {sites.size(), {}, config_.task_timeout, {}});
  evaluate_global(ctx, ctx.job().num_rounds - 1, outcome.received);
}

ControllerState FedAvg::save_state(std::int64_t) const {
  return ControllerState{{{"best", config_.key_metric.best_text()}}, {}};
}

void FedAvg::restore_state(std::int64_t round, const ControllerState& state) {
  first_round_ = round + 1;
  config_.key_metric.restore_best(state.values.count("best") ? state.values.at("best") : "");
}

void FedAvg::run(ControllerContext& ctx) {
  const JobInfo& job = ctx.job();
  for (std::int64_t round = first_round_; round < job.num_rounds && !ctx.abort_requested(); ++round) {
    ctx.round_started(round);
    const auto sites = ctx.sample(sites_per_round(ctx.sites().size(), job));
    WeightedAverage average(ctx.global_model(), average_options());
    const auto outcome =
        ctx.broadcast(Task{"train", round, ctx.global_model(), {}}, sites, average, broadcast_options(sites.size()));
    check_outcome(ctx, round, sites.size(), outcome);
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
  if (config_.final_validation && !ctx.abort_requested()) validate_final(ctx);
}

}  // namespace cohort::fedavg
