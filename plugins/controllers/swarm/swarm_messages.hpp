#pragma once
// What Swarm's parts say to each other, each message a type with one codec (its name and
// meta on the SDK's SiteMessage or Task), and the server's resume state with one codec
// (ControllerState). A message's name and its keys are spelled here and nowhere else.
//
//   server ──AggregateRound──▶ aggregator ──Learn──▶ trainers ──LearnResult──▶ aggregator
//   aggregator ──RoundStarted, RoundDone | RoundFailed──▶ server; RoundDone names the next
//   aggregator, to whom the aggregator sends AggregateRound with the round's model.
//   At the end: server ──ShareBest──▶ best site ──BestModel──▶ server; server ──EndJob──▶ all.

#include <cohort/controller.hpp>
#include <cohort/metrics.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cohort::swarm {

/// Aggregate round `round` over `alive` (empty: every site).
struct AggregateRound {
  static constexpr const char* kName = "swarm_aggregate";
  std::int64_t round = 0;
  std::vector<std::string> alive;

  SiteMessage message() const;
  Task task(Model model) const;
  static AggregateRound from(const SiteMessage& m);
};

/// Train on the aggregator's model (which travels with it) and send it the result.
struct Learn {
  static constexpr const char* kName = "swarm_learn";
  std::int64_t round = 0;
  std::string aggregator;

  SiteMessage message() const;
  /// The aggregator named, else the sender.
  static Learn from(const SiteMessage& m);
};

/// A trainer's result (its model travels with it); `error` when training failed.
struct LearnResult {
  static constexpr const char* kName = "swarm_result";
  std::int64_t round = 0;
  std::optional<std::string> error;
  Metrics metrics;
  std::optional<std::int64_t> num_steps;

  SiteMessage message() const;
  static LearnResult from(const SiteMessage& m);
};

/// An aggregator's report: the round began.
struct RoundStarted {
  static constexpr const char* kName = "round_started";
  std::int64_t round = 0;
  std::string aggregator;

  SiteMessage message() const;
};

/// An aggregator's report: the round's model (which travels with it), who replied, and who
/// aggregates the next round ("" after the last).
struct RoundDone {
  static constexpr const char* kName = "round_done";
  std::int64_t round = 0;
  std::string aggregator;
  std::vector<std::string> replied;
  std::string next;
  Metrics metrics;

  SiteMessage message() const;
  static RoundDone from(const SiteMessage& m);
};

/// An aggregator's report: the round ended without a model.
struct RoundFailed {
  static constexpr const char* kName = "round_failed";
  std::int64_t round = 0;
  std::string reason;

  SiteMessage message() const;
  static RoundFailed from(const SiteMessage& m);
};

/// The server asks the site whose received models validated best for its best one.
struct ShareBest {
  static constexpr const char* kName = "swarm_share_best";
  std::int64_t round = 0;

  Task task() const;
};

/// A site's answer to ShareBest: its best model (which travels with it) and its value.
struct BestModel {
  static constexpr const char* kName = "best";
  std::int64_t round = 0;
  Metrics metrics;

  SiteMessage message() const;
};

/// The job is over: sites drop what they hold.
struct EndJob {
  static constexpr const char* kName = "swarm_end";
  std::int64_t round = 0;

  Task task() const;
};

/// Whether `m` is a message of type `M`.
template <class M>
bool is(const SiteMessage& m) {
  return m.name == M::kName;
}

/// What the server resumes Swarm from: who aggregates next, who was alive, and each site's
/// best key metric of the models it received.
struct SwarmState {
  std::string next_aggregator;
  std::vector<std::string> alive;
  std::map<std::string, double> best_metric;

  ControllerState encode() const;
  static SwarmState decode(const ControllerState& state);
};

/// The site status metric that carries a site's best key metric so far ("best_accuracy").
inline std::string best_status_metric(const std::string& key_metric) { return "best_" + key_metric; }

}  // namespace cohort::swarm
