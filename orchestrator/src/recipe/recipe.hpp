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

using config::MemorySettings;
using config::PluginSection;
using config::SimulationSettings;

/// A plugin section with its plugin loaded and checked.
struct LoadedSection : PluginSection {
  std::shared_ptr<plugin::LoadedPlugin> loaded;
};

/// A parsed and checked recipe.
struct Recipe {
  std::filesystem::path file;
  JobInfo job;
  LoadedSection controller;
  LoadedSection executor;
  std::vector<LoadedSection> hooks;
  /// `[model]`, for the model zoo to parse.
  Args model;
  MemorySettings memory;
  SimulationSettings simulation;
  /// `plugin_path`, made absolute against the recipe's folder.
  std::vector<std::filesystem::path> plugin_path;
  /// The controller is client-controlled (Swarm-like).
  bool client_controlled = false;
};

/// Parses `file` and checks it: TOML syntax, known keys and types, ranges, plugins found
/// (searched in the recipe's plugin_path first, then `search_path`), memory defaults from
/// the controller, and each plugin's own args (by instantiating it once).
Recipe load_recipe(const std::filesystem::path& file, const std::vector<std::filesystem::path>& search_path);

/// Same, from text (`file` names it in errors and anchors relative paths).
Recipe parse_recipe(std::string_view text, const std::filesystem::path& file,
                    const std::vector<std::filesystem::path>& search_path);

/// The recipe as TOML with every default filled in, each plugin's args included.
std::string render(const Recipe& recipe);

}  // namespace cohort::recipe
