// cohort simulate RECIPE: the whole job on this machine, in real processes.
#include "cli/commands.hpp"

#include "simulate/simulation.hpp"

namespace cohort::cli {

void add_simulate_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("simulate", "Run a recipe on this machine: one server and K client processes over mutual TLS");
  auto recipe = std::make_shared<std::string>();
  auto clients = std::make_shared<std::int64_t>(0);
  auto workers = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto plan = std::make_shared<bool>(false);
  auto insecure = std::make_shared<bool>(false);
  auto workspace = std::make_shared<std::string>();
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("RECIPE", *recipe, "The recipe (TOML)")->required()->check(process::recipe_file());
  auto* clients_opt = cmd->add_option("--clients", *clients, "Number of sites (default: the recipe's)")->check(process::at_least(1));
  auto* workers_opt =
      cmd->add_option("--workers", *workers,
                      "Client processes to spread the sites over: a number, or auto (measure one site's task, "
                      "fit the processes into the cores and free memory); default: the recipe's, else auto")
          ->check(process::auto_or_count());
  cmd->add_option("--set", *overrides, "KEY=VALUE: override a setting of the recipe (e.g. controller.plugin=fedopt)")
      ->allow_extra_args(false);
  cmd->add_flag("--plan", *plan, "Print how the job would be laid out (probing one site's task) and run nothing");
  auto* insecure_opt = cmd->add_flag("--insecure", *insecure, "Plain TCP instead of mutual TLS");
  cmd->add_option("--workspace", *workspace, "Where the job's results go (default: workspace/<job>-<time>)");
  cmd->add_option("-p,--plugin-path", *paths, "Search DIR for plugins before the defaults");
  auto format = std::make_shared<std::string>("text");
  cmd->add_option("--format", *format, "text, or json: the summary as one object on stdout, the rest on stderr")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([=, &run, &global] {
    run = [=, &global] {
      auto log = process::make_logger("simulate", global.log);
      simulate::SimulationOptions o;
      o.recipe = *recipe;
      if (clients_opt->count()) o.clients = *clients;
      if (workers_opt->count()) o.workers = *workers == "auto" ? 0 : std::stoll(*workers);
      o.overrides = *overrides;
      o.plan_only = *plan;
      o.json_summary = *format == "json";
      if (insecure_opt->count()) o.insecure = *insecure;
      o.workspace = *workspace;
      o.plugin_dirs.assign(paths->begin(), paths->end());
      o.log_level = global.log.verbose ? "debug" : global.log.level;
      return simulate::run_simulation(o, *log);
    };
  });
}

}  // namespace cohort::cli
