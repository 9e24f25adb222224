#include "cyclic.hpp"

namespace {

std::unique_ptr<cohort::Controller> make(const cohort::PluginConfig& config) {
  auto c = cohort::cyclic::parse_config(config.args, config.job);
  config.args.finish();
  return std::make_unique<cohort::cyclic::Cyclic>(std::move(c));
}

}  // namespace

COHORT_PLUGIN(cohort::controller_plugin("cyclic", "1.0.0",
                                        "The model travels from site to site, each training on the previous result",
                                        &make, cohort::MemoryDefaults{1, 1}))
