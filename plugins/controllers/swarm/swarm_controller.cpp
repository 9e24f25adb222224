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
  std::ostringstream best;
  best.precision(17);  // the same doubles back
  for (const auto& [site, value] : best_metric_) best << site << '=' << value << ',';
  return ControllerState{{{"next_aggregator", next_aggregator_}, {"alive", join_sites(alive_)}, {"best_metric", best.str()}}, {}};
}

void SwarmController::restore_state(std::int64_t round, const ControllerState& state) {
  last_round_ = round;
  const auto value = [&](const char* key) {
    auto it = state.values.find(key);
    return it == state.values.end() ? std::string() : it->second;
  };
  next_aggregator_ = value("next_aggregator");
  alive_ = split_sites(value("alive"));
  best_metric_.clear();
  for (const auto& entry : split_sites(value("best_metric"))) {
    const auto at = entry.rfind('=');
    if (at != std::string::npos) best_metric_[entry.substr(0, at)] = std::stod(entry.substr(at + 1));
  }
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
  ctx.notify(next_aggregator_, Task{"swarm_aggregate", first_round, ctx.global_model(), {{"alive", join_sites(alive_)}}});
}

void SwarmController::round_done(ControllerContext& ctx, SiteReport& report) {
  Metrics m = report.metrics;
  m.erase("best_" + config_.key_metric.name());
  ctx.record_metrics(report.round, report.from, m);  // the aggregator's row
  if (auto it = m.find(config_.key_metric.name()); it != m.end() && report.round > 0)
    ctx.record_metrics(report.round - 1, "global", {{config_.key_metric.name(), it->second}});
  if (report.model.tensors.empty())
    throw JobError("round " + std::to_string(report.round) + ": aggregator '" + report.from +
                   "' reported it done without its model");
  Model global = std::move(report.model);
  global.round = report.round;
  ctx.set_global_model(std::move(global));
  ctx.persist(ctx.global_model(), "global");
  next_aggregator_ = report.meta.count("next") ? report.meta.at("next") : std::string();
  alive_ = split_sites(report.meta.count("replied") ? report.meta.at("replied") : std::string());
  last_round_ = report.round;
  ctx.round_ended(report.round);
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
      if (auto it = report->metrics.find("best_" + config_.key_metric.name()); it != report->metrics.end())
        best_metric_[report->from] = it->second;
      if (report->name == "round_started") ctx.round_started(report->round);
      if (report->name == "round_failed")
        throw JobError("round " + std::to_string(report->round) + " failed at aggregator '" + report->from +
                       "': " + (report->meta.count("reason") ? report->meta.at("reason") : std::string("no reason")));
      if (report->name == "round_done") {
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
  ctx.notify(*best_site, Task{"swarm_share_best", ctx.job().num_rounds, {}, {}});
  const auto deadline = Clock::now() + config_.progress_timeout;
  while (Clock::now() < deadline && !ctx.abort_requested()) {
    auto report = ctx.next_report(std::chrono::milliseconds(200));
    if (!report || report->name != "best" || report->from != *best_site) continue;
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
  for (const auto& s : ctx.sites()) ctx.notify(s, Task{"swarm_end", job.num_rounds, {}, {}});
}

}  // namespace cohort::swarm
