#pragma once
// `cohort compare`: several methods (a recipe, with overrides), each run R times with its
// own seed (`[job] seed` + repeat), one run after another, each a `cohort simulate` in a
// process tree of its own (a session of its own: when it ends, nothing of it may remain;
// what does is killed and said). After every run, compare/<timestamp>/ is rewritten:
// compare.csv (a row per run), summary.csv (mean ± std per method), accuracy.png and
// rss.png (gnuplot), report.html; so Ctrl-C, which stops the current run cleanly, still
// leaves the table of what finished.

#include "compare/run_figures.hpp"
#include "config/toml_file.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::compare {

/// One method: a recipe and its overrides.
struct Method {
  std::string name;
  std::filesystem::path recipe;
  config::Overrides overrides;
};

struct CompareOptions {
  std::vector<Method> methods;
  std::int64_t repeats = 1;
  MetricGoal goal;
  /// Passed to each `cohort simulate` ("auto" or a number; empty: the recipe's).
  std::string workers;
  std::vector<std::filesystem::path> plugin_dirs;
  /// Where the timestamped folder goes.
  std::filesystem::path output = "compare";
};

/// A method's name when none is given: the recipe's stem, and its overrides' values.
std::string default_name(const std::filesystem::path& recipe, const config::Overrides& overrides);

/// Checks every method (recipe, overrides, plugins) before anything runs, then runs them;
/// returns 0 when every run completed, 1 when one did not, 2 for a bad method, 130 when
/// interrupted.
int run_compare(const CompareOptions& options, spdlog::logger& log);

}  // namespace cohort::compare
