#include "swarm.hpp"

namespace {

std::unique_ptr<cohort::Controller> make_server(const cohort::PluginConfig& config) {
  auto c = cohort::swarm::parse_config(config.args, config.job);
  config.args.finish();
  return std::make_unique<cohort::swarm::SwarmController>(std::move(c));
}

std::unique_ptr<cohort::SiteWorkflow> make_site(const cohort::PluginConfig& config) {
  auto c = cohort::swarm::parse_config(config.args, config.job);
  config.args.finish();
  return cohort::swarm::make_site_workflow(std::move(c), config.job);
}

}  // namespace

COHORT_PLUGIN(cohort::client_controlled_plugin("swarm", "1.0.0",
                                               "Swarm learning: sites aggregate in turn, the server watches",
                                               &make_server, &make_site, cohort::MemoryDefaults{1, 1}))
