// cohort recipe check FILE: validate a recipe and print it resolved.
// cohort recipe files FILE: the files that travel with its job, one absolute path a line.
#include "runtime/commands.hpp"
#include "process/runtime_commands.hpp"

#include "model_zoo.hpp"
#include "plugin/registry.hpp"
#include "recipe/recipe.hpp"

#include <iostream>

namespace cohort::runtime {

namespace {

/// The recipe, checked: its plugins (found in the `--plugin-path` folders, then the
/// defaults) and its [model], which is the zoo's to check whatever the executor.
recipe::Recipe load_checked(const std::string& file, const std::vector<std::string>& paths) {
  std::vector<std::filesystem::path> dirs(paths.begin(), paths.end());
  for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
  auto recipe = recipe::load_recipe(file, dirs);
  models::parse_spec(recipe.model);
  return recipe;
}

}  // namespace

void add_recipe_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* recipe = app.add_subcommand("recipe", process::runtime_command_description("recipe"));
  recipe->require_subcommand(1);
  auto* check = recipe->add_subcommand(
      "check", "Validate a recipe and print it resolved, with every default filled in");
  auto file = std::make_shared<std::string>();
  auto paths = std::make_shared<std::vector<std::string>>();
  check->add_option("FILE", *file, "The recipe (TOML)")->required();
  check->add_option("-p,--plugin-path", *paths, "Search DIR for plugins before the defaults");
  check->callback([&run, file, paths] {
    run = [file, paths] {
      std::cout << recipe::render(load_checked(*file, *paths));
      return process::kExitOk;
    };
  });
  auto* files = recipe->add_subcommand(
      "files", "Validate a recipe and list the files that travel with its job (what `job submit` sends)");
  files->add_option("FILE", *file, "The recipe (TOML)")->required();
  files->add_option("-p,--plugin-path", *paths, "Search DIR for plugins before the defaults");
  files->callback([&run, file, paths] {
    run = [file, paths] {
      for (const auto& f : recipe::travelling_files(load_checked(*file, *paths))) std::cout << f.string() << "\n";
      return process::kExitOk;
    };
  });
}

}  // namespace cohort::runtime
