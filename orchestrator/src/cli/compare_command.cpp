// cohort compare RECIPE [--set KEY=VALUE]... [--name NAME] RECIPE ...: methods side by side.
#include "cli/commands.hpp"

#include "compare/compare.hpp"

namespace cohort::cli {

void add_compare_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand(
      "compare",
      "Run several methods (recipes, with overrides) R times each, one after another in their own process trees, "
      "and put their accuracy, time and memory side by side");
  cmd->footer(
      "A --set or --name after a RECIPE belongs to that method; a --set before the first RECIPE applies to all.\n"
      "  cohort compare r.toml --name fedavg r.toml --set controller.plugin=fedopt --set controller.args.optimizer=adam "
      "--name fedadam --repeats 3");
  auto o = std::make_shared<compare::CompareOptions>();
  auto recipes = std::make_shared<std::vector<std::string>>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto names = std::make_shared<std::vector<std::string>>();
  auto paths = std::make_shared<std::vector<std::string>>();
  auto target = std::make_shared<double>(0);
  auto mode = std::make_shared<std::string>("max");
  auto* recipe_opt = cmd->add_option("RECIPE", *recipes, "A method's recipe (TOML)")->required()->check(process::recipe_file());
  auto* set_opt = cmd->add_option("--set", *sets, "KEY=VALUE: override a setting of the method before it")
                      ->allow_extra_args(false);
  auto* name_opt = cmd->add_option("--name", *names, "The name of the method before it (default: the recipe's stem "
                                                     "and its overrides)")
                       ->allow_extra_args(false);
  cmd->add_option("--repeats", o->repeats, "Runs per method, seeds [job] seed + 0, 1, ...")
      ->capture_default_str()
      ->check(process::at_least(1));
  cmd->add_option("--metric", o->goal.name, "The global metric to compare")->capture_default_str();
  cmd->add_option("--metric-mode", *mode, "max: higher is better; min: lower")->capture_default_str()
      ->check(CLI::IsMember({"max", "min"}));
  auto* target_opt = cmd->add_option("--target", *target, "Report the rounds each method needs to reach this value");
  cmd->add_option("--workers", o->workers, "Client processes per run: auto or a number (default: each recipe's)")
      ->check(process::auto_or_count());
  cmd->add_option("--output", o->output, "Folder for the timestamped results")->capture_default_str();
  cmd->add_option("-p,--plugin-path", *paths, "Search DIR for plugins before the defaults");
  cmd->callback([=, &run, &global] {
    // The methods, from the order the arguments came in.
    compare::CompareOptions options = *o;
    config::Overrides common;
    std::vector<std::optional<std::string>> given_names;
    std::size_t r = 0, s = 0, n = 0;
    for (const CLI::Option* opt : cmd->parse_order()) {
      if (opt == recipe_opt) {
        options.methods.push_back({"", (*recipes)[r++], common});
        given_names.emplace_back();
      } else if (opt == set_opt) {
        const std::string& value = (*sets)[s++];
        (options.methods.empty() ? common : options.methods.back().overrides).push_back(value);
      } else if (opt == name_opt) {
        if (options.methods.empty()) throw CLI::ValidationError("--name", "comes after the RECIPE it names");
        given_names.back() = (*names)[n++];
      }
    }
    for (std::size_t i = 0; i < options.methods.size(); ++i) {
      auto& m = options.methods[i];
      // The common overrides' names are the same for every method: leave them out.
      config::Overrides own(m.overrides.begin() + static_cast<std::ptrdiff_t>(common.size()), m.overrides.end());
      m.name = given_names[i] ? *given_names[i] : compare::default_name(m.recipe, own);
    }
    options.goal.maximize = *mode == "max";
    if (target_opt->count()) options.goal.target = *target;
    options.plugin_dirs.assign(paths->begin(), paths->end());
    run = [options, &global] {
      auto log = process::make_logger("compare", global.log);
      return compare::run_compare(options, *log);
    };
  });
}

}  // namespace cohort::cli
