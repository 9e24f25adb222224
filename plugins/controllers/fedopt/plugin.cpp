// FedOpt: FedAvg's rounds, then a server optimizer step from the average.
#include "fedavg.hpp"
#include "server_optimizer.hpp"

namespace {

class FedOpt final : public cohort::fedavg::FedAvg {
 public:
  FedOpt(cohort::fedavg::FedAvgConfig fedavg, cohort::fedopt::OptimizerConfig optimizer)
      : FedAvg(std::move(fedavg)), optimizer_(std::move(optimizer)) {}

 protected:
  cohort::Model next_global(cohort::ControllerContext& ctx, std::int64_t round, cohort::Model average) override {
    return optimizer_.step(ctx.global_model(), std::move(average), round);
  }
  bool needs_previous_global() const override { return true; }

 public:
  cohort::ControllerState save_state(std::int64_t round) const override {
    auto state = FedAvg::save_state(round);
    optimizer_.save_state(state);
    return state;
  }
  void restore_state(std::int64_t round, const cohort::ControllerState& state) override {
    FedAvg::restore_state(round, state);
    optimizer_.restore_state(state);
  }

 private:
  cohort::fedopt::ServerOptimizer optimizer_;
};

std::unique_ptr<cohort::Controller> make(const cohort::PluginConfig& config) {
  auto fedavg = cohort::fedavg::parse_config(config.args, config.job);
  auto optimizer = cohort::fedopt::parse_optimizer(config.args, config.job.num_rounds);
  config.args.finish();
  return std::make_unique<FedOpt>(std::move(fedavg), std::move(optimizer));
}

}  // namespace

COHORT_PLUGIN(cohort::controller_plugin("fedopt", "1.0.0",
                                        "FedAvg aggregation followed by a server optimizer step (SGD, Adam, Adagrad, Yogi)",
                                        &make, cohort::MemoryDefaults{1, 1}))
