// The synthetic executor: no data, no training; an update that is known in advance.
//
// For a "train" task at round r, site index i (0-based):
//   result tensor  = received tensor + delta * (i + 1)        (in place, no new memory)
//   num_steps      = steps * (i + 1) when steps_by_site, else steps
//   metrics        = loss 1 / (r + 1 + i), accuracy r / (r + 1)
// so every controller's aggregate can be checked against a hand computation. A
// "validate" task returns the metrics only. compute_ms simulates training time;
// fail_sites make chosen sites throw (error-policy tests); log_scalars = N logs N scalars
// per task while it runs ("synthetic/scalar", steps r*N .. r*N + N-1, value the step).
#include <cohort/metrics.hpp>
#include <cohort/plugin.hpp>

#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace {

struct SyntheticConfig {
  double delta = 1.0;
  std::int64_t steps = 1;
  bool steps_by_site = false;
  std::int64_t compute_ms = 0;
  std::vector<std::string> fail_sites;
  std::int64_t log_scalars = 0;
};

class SyntheticExecutor final : public cohort::Executor {
 public:
  explicit SyntheticExecutor(SyntheticConfig config) : config_(std::move(config)) {}

  cohort::Model execute(cohort::Task task, cohort::ExecutorContext& ctx) override {
    if (std::find(config_.fail_sites.begin(), config_.fail_sites.end(), ctx.site()) != config_.fail_sites.end())
      throw std::runtime_error("synthetic failure requested for site '" + ctx.site() + "'");
    if (config_.compute_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(config_.compute_ms));
    for (std::int64_t k = 0; k < config_.log_scalars; ++k) {
      const std::int64_t step = task.round * config_.log_scalars + k;
      ctx.log_scalar("synthetic/scalar", static_cast<double>(step), step);
    }

    const auto i = ctx.site_index();
    const auto r = task.round;
    cohort::Model result;
    result.round = r;
    result.metrics[std::string(cohort::metric::loss)] = 1.0 / static_cast<double>(r + 1 + i);
    result.metrics[std::string(cohort::metric::accuracy)] = static_cast<double>(r) / static_cast<double>(r + 1);
    if (task.name == "validate") return result;

    result.num_steps = config_.steps_by_site ? config_.steps * (i + 1) : config_.steps;
    result.metrics[std::string(cohort::metric::examples)] = static_cast<double>(*result.num_steps);
    const double shift = config_.delta * static_cast<double>(i + 1);
    for (auto& t : task.model.tensors) t.tensor.add_(shift);
    result.tensors = std::move(task.model.tensors);
    return result;
  }

 private:
  SyntheticConfig config_;
};

std::unique_ptr<cohort::Executor> make(const cohort::PluginConfig& config) {
  const cohort::Args& args = config.args;
  SyntheticConfig c;
  c.delta = args.get<double>("delta", 1.0);
  c.steps = args.get<std::int64_t>("steps", 1, cohort::at_least(0));
  c.steps_by_site = args.get<bool>("steps_by_site", false);
  c.compute_ms = args.get<std::int64_t>("compute_ms", 0, cohort::between(0, 3600 * 1000));
  c.fail_sites = args.get<std::vector<std::string>>("fail_sites", {});
  c.log_scalars = args.get<std::int64_t>("log_scalars", 0, cohort::between(0, 1000000));
  args.finish();
  return std::make_unique<SyntheticExecutor>(std::move(c));
}

}  // namespace

COHORT_PLUGIN(cohort::executor_plugin("synthetic", "1.0.0",
                                      "Known, deterministic updates of a synthetic model (tests, benchmarks)",
                                      &make))
