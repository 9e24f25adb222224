#pragma once
// TOML files read as Args: the one way recipes, project files and kit files are parsed,
// so that every one of their errors is a ConfigError at FILE:LINE:COL.
//
// Overrides (`--set KEY=VALUE` on a command line) are applied here too: KEY is a dotted
// TOML key (`controller.args.lr`), VALUE a TOML value, or a bare word taken as a string
// (`controller.plugin=fedopt`). An override's value keeps its own origin, so an error
// about it (a wrong type, an unknown key) names the `--set` argument, not the file.

#include <cohort/args.hpp>
#include <cohort/export.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::config {

/// `KEY=VALUE` arguments, applied in order (a later one wins).
using Overrides = std::vector<std::string>;

/// Parses TOML `text` (named `file` in errors), applies `overrides`, and returns its root
/// table. A syntax error is a ConfigError at its position; a malformed override one
/// naming it.
COHORT_API Args parse_toml(std::string_view text, const std::string& file, const Overrides& overrides = {});

/// parse_toml's root table, and the text the overrides make of `text`, from one parse:
/// `text` itself when there are none, else the merged document (comments are not kept),
/// headed by a comment naming them (what a job keeps as its recipe.toml).
struct TomlWithText {
  Args root;
  std::string text;
};
COHORT_API TomlWithText parse_toml_with_text(std::string_view text, const std::string& file, const Overrides& overrides);

/// Reads `file` and parses it; a file that cannot be read is a ConfigError naming it.
COHORT_API Args read_toml_file(const std::filesystem::path& file);

}  // namespace cohort::config
