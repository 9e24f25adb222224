#include "swarm.hpp"

namespace {

std::unique_ptr<cohort::SiteWorkflow> make_site(const cohort::PluginConfig& config) {
  auto c = cohort::swarm::parse_config(config.args, config.job);
  config.args.finish();
  return cohort::swarm::make_site_workflow(std::move(c), config.job);
}

}  // namespace

COHORT_PLUGIN(cohort::client_controlled_plugin("swarm", "1.0.0",
                                               "Swarm learning: sites aggregate in turn, the server watches",
                                               &cohort::make_from_config<cohort::Controller, cohort::swarm::SwarmController,
                                                                         &cohort::swarm::parse_config>,
                                               &make_site, cohort::MemoryDefaults{1, 1}))
