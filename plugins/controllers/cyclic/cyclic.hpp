#pragma once
// Cyclic: the model travels from site to site, each training on the previous one's
// result; one round is one pass over the active sites.
//
// Documented behaviour when a site fails (an executor error, a lost connection, or not
// taking its task within task_assignment_timeout): the site is skipped, the model goes
// on from the last site that succeeded, and the site is visited again next round if it
// is connected. A round needs at least 2 active sites and one success; an explicit order
// naming a site that is not connected fails the job.

#include <cohort/metrics.hpp>
#include <cohort/plugin.hpp>

#include <chrono>

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace cohort::cyclic {

enum class Order { fixed, random, random_no_repeat, explicit_list };

struct CyclicConfig {
  Order order = Order::fixed;
  /// The explicit order (Order::explicit_list); a site may appear more than once.
  std::vector<std::string> sites;
  std::chrono::milliseconds task_assignment_timeout{0};
  std::chrono::milliseconds task_timeout{0};
  /// The metric that picks best_model.pt.
  KeyMetric key_metric;
  /// Evaluate the last global model on every site at the end.
  bool final_validation = true;
};

/// Reads `[controller.args]` (no finish()).
CyclicConfig parse_config(const Args& args, const JobInfo& job);

/// The order in which a round visits `active` (sorted): as is (fixed), shuffled (random),
/// shuffled so that it does not start with `previous_last` (random_no_repeat), or
/// `explicit_sites`.
std::vector<std::string> visiting_order(Order order, const std::vector<std::string>& active,
                                        const std::vector<std::string>& explicit_sites,
                                        const std::optional<std::string>& previous_last, std::mt19937_64& rng);

class Cyclic final : public Controller {
 public:
  explicit Cyclic(CyclicConfig config) : config_(std::move(config)) {}
  void run(ControllerContext& ctx) override;

  /// Resumes after a round: the next round, the order's generator and the last site of
  /// the round (random_no_repeat), the best key metric so far.
  bool resumable() const override { return true; }
  ControllerState save_state(std::int64_t round) const override;
  void restore_state(std::int64_t round, const ControllerState& state) override;

 private:
  /// Records `value` as the key metric of the global model after `round`; persists it as
  /// best_model.pt when it is the best so far (ctx.global_model() must be that model).
  void record_global(ControllerContext& ctx, std::int64_t round, std::optional<double> value);

  CyclicConfig config_;
  std::int64_t first_round_ = 0;
  /// Draws the random orders; seeded in run() unless restored.
  std::optional<std::mt19937_64> rng_;
  std::optional<std::string> previous_last_;
};

}  // namespace cohort::cyclic
