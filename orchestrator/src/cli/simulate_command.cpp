// cohort simulate RECIPE: the whole job on this machine, in real processes.
#include "cli/commands.hpp"

#include "process/launch.hpp"
#include "simulate/simulation.hpp"

namespace cohort::cli {

void add_simulate_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("simulate", "Run a recipe on this machine: one server and K client processes over mutual TLS");
  auto a = std::make_shared<process::SimulateLaunch>();
  process::add_options(*cmd, *a);
  cmd->callback([a, &run, &global] {
    run = [a, &global] {
      auto log = process::make_logger("simulate", global.log);
      simulate::SimulationOptions o;
      o.recipe = a->recipe;
      o.clients = a->clients;
      if (!a->workers.empty()) o.workers = a->workers == "auto" ? 0 : std::stoll(a->workers);
      o.overrides = a->overrides;
      o.plan_only = a->plan;
      o.json_summary = a->format == "json";
      if (a->insecure) o.insecure = true;  // else the recipe's
      o.workspace = a->workspace;
      o.plugin_dirs.assign(a->plugin_paths.begin(), a->plugin_paths.end());
      o.log_level = global.log.verbose ? "debug" : global.log.level;
      if (a->dashboard) o.dashboard = a->dashboard_listen;
      return simulate::run_simulation(o, *log);
    };
  });
}

}  // namespace cohort::cli
