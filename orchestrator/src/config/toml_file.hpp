#pragma once
// TOML files read as Args: the one way recipes, project files and kit files are parsed,
// so that every one of their errors is a ConfigError at FILE:LINE:COL.

#include <cohort/args.hpp>
#include <cohort/export.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace cohort::config {

/// Parses TOML `text` (named `file` in errors) and returns its root table. A syntax error
/// is a ConfigError at its position.
COHORT_API Args parse_toml(std::string_view text, const std::string& file);

/// Reads `file` and parses it; a file that cannot be read is a ConfigError naming it.
COHORT_API Args read_toml_file(const std::filesystem::path& file);

}  // namespace cohort::config
