#include "cyclic.hpp"

#include <cohort/error.hpp>
#include <cohort/aggregation.hpp>

#include <spdlog/logger.h>

#include <algorithm>
#include <sstream>

namespace cohort::cyclic {

CyclicConfig parse_config(const Args& args, const JobInfo& job) {
  CyclicConfig c;
  const auto order = args.choice("order", "fixed", {"fixed", "random", "random_no_repeat", "explicit"});
  c.order = order == "random"             ? Order::random
            : order == "random_no_repeat" ? Order::random_no_repeat
            : order == "explicit"         ? Order::explicit_list
                                          : Order::fixed;
  if (c.order == Order::explicit_list) {
    c.sites = args.required<std::vector<std::string>>("sites");
    if (c.sites.empty()) args.fail("sites", "an explicit order needs at least one site");
    for (const auto& s : c.sites) {
      if (!job.sites.empty() && std::find(job.sites.begin(), job.sites.end(), s) == job.sites.end())
        args.fail("sites", "site '" + s + "' is not one of the job's sites");
    }
  } else if (args.has("sites")) {
    args.fail("sites", "only an explicit order takes a list of sites (order = \"explicit\")");
  }
  c.task_assignment_timeout = args.seconds("task_assignment_timeout_s", {}, between(0, 86400));
  c.task_timeout = args.seconds("task_timeout_s", {}, between(0, 7 * 86400));
  c.key_metric = KeyMetric::from_args(args);
  c.final_validation = args.get<bool>("final_validation", true);
  return c;
}

std::vector<std::string> visiting_order(Order order, const std::vector<std::string>& active,
                                        const std::vector<std::string>& explicit_sites,
                                        const std::optional<std::string>& previous_last, std::mt19937_64& rng) {
  std::vector<std::string> out = order == Order::explicit_list ? explicit_sites : active;
  if (order == Order::random || order == Order::random_no_repeat) std::shuffle(out.begin(), out.end(), rng);
  if (order == Order::random_no_repeat && previous_last && out.size() > 1 && out.front() == *previous_last) {
    // Start with any other site: swapping with a random later position keeps the order random.
    std::uniform_int_distribution<std::size_t> pick(1, out.size() - 1);
    std::swap(out.front(), out[pick(rng)]);
  }
  return out;
}

void Cyclic::record_global(ControllerContext& ctx, std::int64_t round, std::optional<double> value) {
  if (!value || round < 0) return;
  ctx.record_metrics(round, "global", Metrics{{config_.key_metric.name(), *value}});
  ctx.log().info("global model after round {}: {} {:.4f}", round, config_.key_metric.name(), *value);
  if (config_.key_metric.improve(*value)) ctx.persist(ctx.global_model(), "best");
}

ControllerState Cyclic::save_state(std::int64_t) const {
  ControllerState state;
  std::ostringstream rng;
  if (rng_) rng << *rng_;
  state.values = {{"rng", rng.str()}, {"best", config_.key_metric.best_text()}};
  if (previous_last_) state.values["previous_last"] = *previous_last_;
  return state;
}

void Cyclic::restore_state(std::int64_t round, const ControllerState& state) {
  first_round_ = round + 1;
  const auto value = [&](const char* key) {
    auto it = state.values.find(key);
    return it == state.values.end() ? std::string() : it->second;
  };
  config_.key_metric.restore_best(value("best"));
  if (!value("rng").empty()) {
    std::istringstream in(value("rng"));
    rng_.emplace();
    in >> *rng_;
    if (!in) throw JobError("Cyclic: the saved order generator is unreadable");
  }
  if (state.values.count("previous_last")) previous_last_ = value("previous_last");
}

void Cyclic::run(ControllerContext& ctx) {
  const JobInfo& job = ctx.job();
  if (!rng_) rng_.emplace(static_cast<std::uint64_t>(job.seed));  // the run's seed: repeats differ, reruns do not
  std::mt19937_64& rng = *rng_;
  std::optional<std::string>& previous_last = previous_last_;
  for (std::int64_t round = first_round_; round < job.num_rounds; ++round) {
    if (ctx.abort_requested()) return;
    const auto active = ctx.sites();
    if (config_.order == Order::explicit_list) {
      for (const auto& s : config_.sites) {
        if (std::find(active.begin(), active.end(), s) == active.end())
          throw JobError("round " + std::to_string(round) + ": site '" + s +
                         "' of the explicit order is not connected");
      }
    }
    if (active.size() < 2) {
      throw JobError("round " + std::to_string(round) + ": Cyclic needs at least 2 active sites, " +
                     std::to_string(active.size()) + " connected");
    }
    const auto order = visiting_order(config_.order, active, config_.sites, previous_last, rng);
    ctx.round_started(round);
    Model model = ctx.global_model();
    std::optional<std::string> last_success;
    for (const auto& site : order) {
      if (ctx.abort_requested()) return;
      auto result = ctx.send(Task{"train", round, model, {}}, site,
                             SendOptions{config_.task_timeout, config_.task_assignment_timeout});
      if (!result.ok) {
        ctx.log().warn("round {}: site '{}' skipped: {}", round, site, result.error);
        continue;
      }
      ctx.record_metrics(round, site, result.info.metrics);
      if (!last_success) {
        // The round's first site evaluated the model it received: the global model of the
        // previous round, which ctx.global_model() still is.
        record_global(ctx, round - 1, weighted_mean({result.info}, config_.key_metric.name()));
      }
      model = std::move(result.model);  // the previous site's model is released here
      last_success = site;
    }
    if (!last_success) throw JobError("round " + std::to_string(round) + ": no site completed its task");
    model.round = round;
    ctx.set_global_model(std::move(model));
    ctx.persist(ctx.global_model(), "global");
    previous_last = last_success;  // before round_ended: the saved state has it
    ctx.round_ended(round);
  }
  if (config_.final_validation && !ctx.abort_requested()) {
    const auto sites = ctx.sites();
    MetricsOnly metrics_only;
    auto outcome = ctx.broadcast(Task{"validate", job.num_rounds, ctx.global_model(), {}}, sites, metrics_only,
                                 BroadcastOptions{sites.size(), {}, config_.task_timeout, {}});
    record_global(ctx, job.num_rounds - 1, weighted_mean(outcome.received, config_.key_metric.name()));
  }
}

}  // namespace cohort::cyclic
