// A recipe, with the args of the built-in workflows: it either loads or raises a
// ConfigError with a line and column inside the file.
#include "config_location.hpp"

#include "config/recipe_file.hpp"

#include "cyclic.hpp"
#include "fedavg.hpp"
#include "server_optimizer.hpp"
#include "swarm.hpp"

using namespace cohort;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto recipe = config::parse_recipe_file(text, "recipe.toml");
    const auto& args = recipe.controller.args;
    const std::string& plugin = recipe.controller.plugin;
    const bool swarm = plugin == "swarm";
    if (plugin == "fedavg" || plugin == "fedopt") fedavg::parse_config(args, recipe.job);
    if (plugin == "fedopt") fedopt::parse_optimizer(args, recipe.job.num_rounds);
    if (plugin == "cyclic") cyclic::parse_config(args, recipe.job);
    if (swarm) swarm::parse_config(args, recipe.job);
    config::read_workflow_memory(recipe, plugin, swarm, 0, 0);
  } catch (const ConfigError& e) {
    fuzz::require_located(e, text, "recipe.toml");
  }
  return 0;
}
