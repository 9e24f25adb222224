// The server's part of Swarm: start, watch, persist.
#include "swarm.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace cohort::swarm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace

ControllerState SwarmController::save_state(std::int64_t) const {
  return SwarmState{next_aggregator_, alive_, best_metric_}.encode();
}

void SwarmController::restore_state(std::int64_t round, const ControllerState& state) {
  last_round_ = round;
  auto s = SwarmState::decode(state);
  next_aggregator_ = std::move(s.next_aggregator);
  alive_ = std::move(s.alive);
  best_metric_ = std::move(s.best_metric);
}

void SwarmController::start(ControllerContext& ctx, const std::vector<std::string>& sites, std::int64_t first_round) {
  if (first_round == 0) {
    std::vector<std::string> eligible;
    for (const auto& s : sites) {
      if (config_.aggregators.empty() || std::count(config_.aggregators.begin(), config_.aggregators.end(), s)) eligible.push_back(s);
    }
    if (eligible.empty()) throw JobError("no connected site may aggregate (aggregators)");
    next_aggregator_ =
        config_.first_aggregator.empty() ? choose_aggregator(eligible, config_.seed, 0) : config_.first_aggregator;
    alive_ = sites;
  }
  if (first_round >= ctx.job().num_rounds) return;
  if (std::find(sites.begin(), sites.end(), next_aggregator_) == sites.end())
    throw JobError(first_round == 0 ? "the first aggregator '" + next_aggregator_ + "' is not connected"
                                    : "the aggregator of round " + std::to_string(first_round) + ", '" +
                                          next_aggregator_ + "', is not connected");
  ctx.log().info("Swarm: {} sites, round {} aggregated by '{}'", alive_.size(), first_round, next_aggregator_);
  ctx.notify(next_aggregator_, AggregateRound{first_round, alive_}.task(ctx.global_model()));
}

void SwarmController::round_done(ControllerContext& ctx, SiteReport& report) {
  RoundDone done = RoundDone::from(report);
  done.metrics.erase(best_status_metric(config_.key_metric.name()));
  ctx.record_metrics(done.round, report.from, done.metrics);  // the aggregator's row
  if (auto it = done.metrics.find(config_.key_metric.name()); it != done.metrics.end() && done.round > 0)
    ctx.record_metrics(done.round - 1, "global", {{config_.key_metric.name(), it->second}});
  if (report.model.tensors.empty())
    throw JobError("round " + std::to_string(done.round) + ": aggregator '" + report.from +
                   "' reported it done without its model");
  Model global = std::move(report.model);
  global.round = done.round;
  ctx.set_global_model(std::move(global));
  ctx.persist(ctx.global_model(), "global");
  next_aggregator_ = done.next;
  alive_ = std::move(done.replied);
  last_round_ = done.round;
  ctx.round_ended(done.round);
}

std::optional<std::set<std::string>> SwarmController::follow_rounds(ControllerContext& ctx,
                                                                    const std::vector<std::string>& sites, bool finished) {
  const JobInfo& job = ctx.job();
  std::map<std::string, Clock::time_point> last_seen;
  for (const auto& s : sites) last_seen[s] = Clock::now();
  std::set<std::string> silent;
  auto last_progress = Clock::now();
  while (!finished) {
    if (ctx.abort_requested()) return std::nullopt;
    auto report = ctx.next_report(std::chrono::milliseconds(200));
    const auto now = Clock::now();
    if (report) {
      last_seen[report->from] = now;
      if (silent.erase(report->from)) ctx.log().info("Swarm: site '{}' reports again", report->from);
      if (auto it = report->metrics.find(best_status_metric(config_.key_metric.name())); it != report->metrics.end())
        best_metric_[report->from] = it->second;
      if (is<RoundStarted>(*report)) ctx.round_started(report->round);
      if (is<RoundFailed>(*report))
        throw JobError("round " + std::to_string(report->round) + " failed at aggregator '" + report->from +
                       "': " + RoundFailed::from(*report).reason);
      if (is<RoundDone>(*report)) {
        round_done(ctx, *report);
        last_progress = now;
        finished = last_round_ + 1 >= job.num_rounds;
      }
    }
    for (const auto& [site, seen] : last_seen) {
      if (now - seen > config_.max_status_report_interval && silent.insert(site).second)
        ctx.log().warn("Swarm: site '{}' sent no status for {} s", site, seconds(config_.max_status_report_interval));
    }
    const auto alive = static_cast<std::int64_t>(last_seen.size() - silent.size());
    if (alive < job.min_clients)
      throw JobError("sites went silent (" + join_sites({silent.begin(), silent.end()}) + "): " + std::to_string(alive) +
                     " remain, " + std::to_string(job.min_clients) + " needed");
    if (now - last_progress > config_.progress_timeout)
      throw JobError("no Swarm round completed within " + std::to_string(seconds(config_.progress_timeout)) + " s");
  }
  return silent;
}

void SwarmController::validate_final_model(ControllerContext& ctx, const std::set<std::string>& silent) {
  std::vector<std::string> alive;
  for (const auto& s : ctx.sites()) {
    if (!silent.count(s)) alive.push_back(s);
  }
  const std::int64_t rounds = ctx.job().num_rounds;
  MetricsOnly metrics_only;
  auto outcome = ctx.broadcast(Task{"validate", rounds, ctx.global_model(), {}}, alive, metrics_only,
                               BroadcastOptions{alive.size(), {}, config_.progress_timeout, {}});
  if (auto value = weighted_mean(outcome.received, config_.key_metric.name()))
    ctx.record_metrics(rounds - 1, "global", {{config_.key_metric.name(), *value}});
}

void SwarmController::collect_best_model(ControllerContext& ctx, const std::set<std::string>& silent) {
  std::optional<std::string> best_site;
  for (const auto& [site, value] : best_metric_) {
    if (silent.count(site)) continue;
    if (!best_site || config_.key_metric.better(value, best_metric_[*best_site])) best_site = site;
  }
  if (!best_site) return;
  ctx.notify(*best_site, ShareBest{ctx.job().num_rounds}.task());
  const auto deadline = Clock::now() + config_.progress_timeout;
  while (Clock::now() < deadline && !ctx.abort_requested()) {
    auto report = ctx.next_report(std::chrono::milliseconds(200));
    if (!report || !is<BestModel>(*report) || report->from != *best_site) continue;
    if (!report->model.tensors.empty()) {
      ctx.persist(report->model, "best");
      ctx.log().info("Swarm: best model from '{}' ({} {:.4f})", *best_site, config_.key_metric.name(),
                     best_metric_[*best_site]);
    }
    return;
  }
}

void SwarmController::run(ControllerContext& ctx) {
  const JobInfo& job = ctx.job();
  const auto sites = ctx.sites();
  if (static_cast<std::int64_t>(sites.size()) < job.min_clients)
    throw JobError("Swarm needs " + std::to_string(job.min_clients) + " sites, " + std::to_string(sites.size()) + " are connected");
  const std::int64_t first_round = last_round_ + 1;
  start(ctx, sites, first_round);
  // A resume after the last round: its model is the final one.
  const auto silent = follow_rounds(ctx, sites, first_round >= job.num_rounds);
  if (!silent) return;  // aborted
  validate_final_model(ctx, *silent);
  collect_best_model(ctx, *silent);
  for (const auto& s : ctx.sites()) ctx.notify(s, EndJob{job.num_rounds}.task());
}

}  // namespace cohort::swarm
