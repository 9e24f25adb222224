#include "fedavg.hpp"

namespace {

std::unique_ptr<cohort::Controller> make(const cohort::PluginConfig& config) {
  auto fedavg = cohort::fedavg::parse_config(config.args, config.job);
  config.args.finish();
  return std::make_unique<cohort::fedavg::FedAvg>(std::move(fedavg));
}

}  // namespace

COHORT_PLUGIN(cohort::controller_plugin("fedavg", "1.0.0",
                                        "Federated averaging with streaming, weighted aggregation", &make,
                                        cohort::MemoryDefaults{0, 0}))
