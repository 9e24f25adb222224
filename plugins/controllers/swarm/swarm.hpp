#pragma once
// Swarm learning: a client-controlled workflow. The server only starts it and watches.
//
// Round r: an aggregator site sends the learn task with the global model to every site
// it believes alive (itself included), site to site through the server's relay. Each
// trainer trains and sends its result back to the aggregator, which folds results as they
// stream in and stops gathering when all replied, or `wait_after_min_s` after
// `min_responses` replied, or after `aggregation_timeout_s`. It then reports the round to
// the server with the new global model (global_model.pt, and what a resume starts from),
// picks the next aggregator at random among the sites that replied, and hands it the new
// global model. Results of an earlier round are logged and dropped. After the last round
// the server asks the site whose received models validated best for its best one
// (best_model.pt).
//
// Resuming after a server restart: the server keeps the global model, the next aggregator
// and the sites alive after each round; a resumed job sends the next round to that
// aggregator, and the sites drop what they had under way (their best models stay).
//
// Documented behaviour when a site dies: a trainer that does not reply is left out of the
// round (after the wait or the timeout) and is no longer sent tasks; if an aggregator
// dies, no round completes and the server fails the job after `progress_timeout_s`; a site
// that sends no status report for `max_status_report_interval_s` counts as gone, and the
// job fails when fewer than min_clients remain.

#include <cohort/aggregation.hpp>
#include <cohort/metrics.hpp>
#include <cohort/plugin.hpp>
#include <cohort/site_workflow.hpp>

#include "swarm_messages.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cohort::swarm {

struct SwarmConfig {
  std::int64_t min_responses = 0;  ///< 0: every site the round was sent to
  std::chrono::milliseconds wait_after_min{0};
  std::chrono::milliseconds aggregation_timeout{600000};
  KeyMetric key_metric;
  std::chrono::milliseconds max_status_report_interval{90000};
  /// Default: a third of max_status_report_interval (at least 200 ms).
  std::chrono::milliseconds status_report_interval{30000};
  std::chrono::milliseconds progress_timeout{3600000};
  /// The aggregator of round 0 (default: drawn like the others).
  std::string first_aggregator;
  /// Sites that may aggregate (default: every site).
  std::vector<std::string> aggregators;
  std::int64_t seed = 0;
};

/// Reads `[controller.args]` (no finish()).
SwarmConfig parse_config(const Args& args, const JobInfo& job);

/// The aggregator of `round`, drawn at random among `eligible` (sorted) with a generator
/// seeded by (seed, round): every site that draws it gets the same answer.
std::string choose_aggregator(std::vector<std::string> eligible, std::int64_t seed, std::int64_t round);

/// The server's part: starts the workflow and watches it.
class SwarmController final : public Controller {
 public:
  explicit SwarmController(SwarmConfig config) : config_(std::move(config)) {}
  void run(ControllerContext& ctx) override;

  bool resumable() const override { return true; }
  ControllerState save_state(std::int64_t round) const override;
  void restore_state(std::int64_t round, const ControllerState& state) override;

 private:
  // The steps of run().
  /// Sends the next round's aggregator its task (the first round's chosen now).
  void start(ControllerContext& ctx, const std::vector<std::string>& sites, std::int64_t first_round);
  /// Follows the sites' reports until the last round is done; the sites that went silent.
  /// Nothing when the job was aborted. Throws when a round failed, too many sites went
  /// silent, or no round completed in time.
  std::optional<std::set<std::string>> follow_rounds(ControllerContext& ctx, const std::vector<std::string>& sites,
                                                     bool finished);
  /// A round's done report: its model becomes the global one, and who goes on.
  void round_done(ControllerContext& ctx, SiteReport& report);
  /// Every site still reporting validates the final model (no one has yet).
  void validate_final_model(ControllerContext& ctx, const std::set<std::string>& silent);
  /// The site whose received models validated best shares its best one.
  void collect_best_model(ControllerContext& ctx, const std::set<std::string>& silent);

  SwarmConfig config_;
  /// The last round completed (-1: none), and who goes on from it.
  std::int64_t last_round_ = -1;
  std::string next_aggregator_;
  std::vector<std::string> alive_;
  /// Each site's best key metric of the models it received, as it reported.
  std::map<std::string, double> best_metric_;
};

/// Makes a site's part.
std::unique_ptr<SiteWorkflow> make_site_workflow(SwarmConfig config, const JobInfo& job);

}  // namespace cohort::swarm
