#pragma once
// A recipe checked against the plugins it names: the file's sections (config layer), each
// plugin found, loaded, fingerprint-checked and asked to parse its own args, and the
// memory defaults of the controller filled in. Every error is a ConfigError naming
// FILE:LINE:COL.

#include "config/recipe_file.hpp"
#include "plugin/registry.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cohort::recipe {

/// A parsed and checked recipe: the file's sections and the plugins they name, loaded.
struct Recipe : config::RecipeFile {
  std::shared_ptr<plugin::LoadedPlugin> controller_plugin;
  std::shared_ptr<plugin::LoadedPlugin> executor_plugin;
  /// hook_plugins[i] is the plugin of hooks[i].
  std::vector<std::shared_ptr<plugin::LoadedPlugin>> hook_plugins;
  /// The controller is client-controlled (Swarm-like).
  bool client_controlled = false;
};

/// Parses `file` and checks it: TOML syntax, known keys and types, ranges, plugins found
/// (searched in the recipe's plugin_path first, then `search_path`), memory defaults from
/// the controller, and each plugin's own args (by instantiating it once).
Recipe load_recipe(const std::filesystem::path& file, const std::vector<std::filesystem::path>& search_path,
                   const config::Overrides& overrides = {});

/// Same, from text (`file` names it in errors and anchors relative paths).
Recipe parse_recipe(std::string_view text, const std::filesystem::path& file,
                    const std::vector<std::filesystem::path>& search_path, const config::Overrides& overrides = {});

/// Checks `[privacy]` against the workflow and the sites: a controller that averages
/// through the SDK (`controller`, as the recipe made it), δ below 1 / sites, a budget that
/// the noise can meet (min_clients sampled a round). ConfigError at the key at fault.
void check_privacy(const Recipe& recipe, const Controller& controller);

/// Checks `[secure_aggregation]` against the workflow: a controller that averages through
/// the SDK, at least 3 sites a round, and no [privacy] that clips at the server (it would
/// need each update). ConfigError where the section is.
void check_secure_aggregation(const Recipe& recipe, const Controller& controller);

/// The files that travel with the recipe's job (what `cohort job submit` sends with it):
/// every file its plugins named by a relative path (Args::file), with the rest of its
/// folder and below where the plugin asked for it, leaving out hidden names and
/// __pycache__. Absolute paths, sorted, each once.
std::vector<std::filesystem::path> travelling_files(const Recipe& recipe);

/// The recipe as TOML with every default filled in, each plugin's args included.
std::string render(const Recipe& recipe);

}  // namespace cohort::recipe
