#include "swarm_messages.hpp"

#include <sstream>

namespace cohort::swarm {

namespace {

/// Meta keys, each message's own.
constexpr const char* kAlive = "alive";
constexpr const char* kAggregator = "aggregator";
constexpr const char* kError = "error";
constexpr const char* kReplied = "replied";
constexpr const char* kNext = "next";
constexpr const char* kReason = "reason";
/// SwarmState's values.
constexpr const char* kNextAggregator = "next_aggregator";
constexpr const char* kBestMetric = "best_metric";

std::string value(const std::map<std::string, std::string>& meta, const char* key) {
  const auto it = meta.find(key);
  return it == meta.end() ? std::string() : it->second;
}

SiteMessage named(const char* name, std::int64_t round, std::map<std::string, std::string> meta = {},
                  Metrics metrics = {}) {
  return SiteMessage{"", name, round, std::move(meta), std::move(metrics), {}};
}

}  // namespace

SiteMessage AggregateRound::message() const { return named(kName, round, {{kAlive, join_sites(alive)}}); }

Task AggregateRound::task(Model model) const { return Task{kName, round, std::move(model), {{kAlive, join_sites(alive)}}}; }

AggregateRound AggregateRound::from(const SiteMessage& m) { return AggregateRound{m.round, split_sites(value(m.meta, kAlive))}; }

SiteMessage Learn::message() const { return named(kName, round, {{kAggregator, aggregator}}); }

Learn Learn::from(const SiteMessage& m) {
  const auto aggregator = value(m.meta, kAggregator);
  return Learn{m.round, aggregator.empty() ? m.from : aggregator};
}

SiteMessage LearnResult::message() const {
  SiteMessage m = named(kName, round, {}, metrics);
  if (error) m.meta[kError] = *error;
  m.num_steps = num_steps;
  return m;
}

LearnResult LearnResult::from(const SiteMessage& m) {
  LearnResult r{m.round, std::nullopt, m.metrics, m.num_steps};
  if (m.meta.count(kError)) r.error = m.meta.at(kError);
  return r;
}

SiteMessage RoundStarted::message() const { return named(kName, round, {{kAggregator, aggregator}}); }

SiteMessage RoundDone::message() const {
  return named(kName, round, {{kAggregator, aggregator}, {kReplied, join_sites(replied)}, {kNext, next}}, metrics);
}

RoundDone RoundDone::from(const SiteMessage& m) {
  return RoundDone{m.round, value(m.meta, kAggregator), split_sites(value(m.meta, kReplied)), value(m.meta, kNext),
                   m.metrics};
}

SiteMessage RoundFailed::message() const { return named(kName, round, {{kReason, reason}}); }

RoundFailed RoundFailed::from(const SiteMessage& m) {
  const auto reason = value(m.meta, kReason);
  return RoundFailed{m.round, reason.empty() ? "no reason" : reason};
}

Task ShareBest::task() const { return Task{kName, round, {}, {}}; }

SiteMessage BestModel::message() const { return named(kName, round, {}, metrics); }

Task EndJob::task() const { return Task{kName, round, {}, {}}; }

ControllerState SwarmState::encode() const {
  std::ostringstream best;
  best.precision(17);  // the same doubles back
  for (const auto& [site, value] : best_metric) best << site << '=' << value << ',';
  return ControllerState{{{kNextAggregator, next_aggregator}, {kAlive, join_sites(alive)}, {kBestMetric, best.str()}}, {}};
}

SwarmState SwarmState::decode(const ControllerState& state) {
  SwarmState s{value(state.values, kNextAggregator), split_sites(value(state.values, kAlive)), {}};
  for (const auto& entry : split_sites(value(state.values, kBestMetric))) {
    const auto at = entry.rfind('=');
    if (at != std::string::npos) s.best_metric[entry.substr(0, at)] = std::stod(entry.substr(at + 1));
  }
  return s;
}

}  // namespace cohort::swarm
