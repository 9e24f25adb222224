#include "process/command_line.hpp"
#include "process/launch.hpp"

#include <cohort/error.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

namespace cohort::process {

void add_global_options(CLI::App& app, GlobalOptions& global) {
  app.require_subcommand(1);
  app.fallthrough();
  add_options_of<LogLaunch>(app, global.log);
}

CommandLine::CommandLine() { add_global_options(app_, global_); }

void CommandLine::add(std::initializer_list<AddCommand> commands) {
  for (AddCommand add : commands) add(app_, global_, run_);
}

namespace {

namespace fs = std::filesystem;

std::optional<std::int64_t> whole_number(const std::string& text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [at, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || at != end || text.empty()) return std::nullopt;
  return value;
}

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

/// What a path that is not a usable file is.
std::string not_a_file(const std::string& text) {
  std::error_code ec;
  const auto status = fs::status(text, ec);
  if (!fs::exists(status)) return "no such file: " + in_quotes(text);
  if (fs::is_directory(status)) return in_quotes(text) + " is a folder, not a file";
  return {};
}

}  // namespace

CLI::Validator at_least(std::int64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        const auto value = whole_number(text);
        if (!value || *value < min)
          return "must be a whole number of at least " + std::to_string(min) + ", not " + in_quotes(text);
        return {};
      },
      "INT>=" + std::to_string(min));
}

CLI::Validator between(std::int64_t min, std::int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const auto value = whole_number(text);
        if (!value || *value < min || *value > max)
          return "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", not " +
                 in_quotes(text);
        return {};
      },
      "INT in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

CLI::Validator auto_or_count() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text == "auto") return {};
        const auto value = whole_number(text);
        if (!value || *value < 1) return "must be auto or a whole number of at least 1, not " + in_quotes(text);
        return {};
      },
      "auto|INT>=1");
}

CLI::Validator number_at_least(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        double value = 0;
        const auto* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, value);
        if (ec != std::errc() || at != end || text.empty() || !(value >= min)) {
          std::ostringstream bound;
          bound << min;
          return "must be a number of at least " + bound.str() + ", not " + in_quotes(text);
        }
        return {};
      },
      "NUMBER");
}

CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        const auto* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, value);
        if (ec != std::errc() || at != end || text.empty() || !(value > 0))
          return "must be a number above 0, not " + in_quotes(text);
        return {};
      },
      "NUMBER>0");
}

CLI::Validator existing_file() {
  return CLI::Validator([](std::string& text) { return not_a_file(text); }, "FILE");
}

CLI::Validator existing_folder() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::error_code ec;
        const auto status = fs::status(text, ec);
        if (!fs::exists(status)) return "no such folder: " + in_quotes(text);
        if (!fs::is_directory(status)) return in_quotes(text) + " is a file, not a folder";
        return {};
      },
      "DIR");
}

CLI::Validator recipe_file() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::error_code ec;
        if (!fs::is_directory(text, ec)) return not_a_file(text);
        std::vector<std::string> recipes;
        for (const auto& entry : fs::directory_iterator(text, ec))
          if (entry.path().extension() == ".toml") recipes.push_back(entry.path().filename().string());
        std::sort(recipes.begin(), recipes.end());
        std::string message = in_quotes(text) + " is a folder, not a recipe";
        if (recipes.empty()) return message + ", and holds no .toml file";
        message += "; the recipes in it:";
        for (const auto& r : recipes) message += " " + r;
        return message;
      },
      "RECIPE");
}

int subcommand_index(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (is_valued_log_flag(arg)) {
      ++i;  // its value
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    return i;
  }
  return 0;
}

int report_current_error(bool print) {
  try {
    throw;
  } catch (const ExitStatusError& e) {
    if (print) std::cerr << "error: " << e.what() << "\n";
    return e.status();
  } catch (const ConfigError& e) {
    if (print) std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    if (print) std::cerr << "error: " << e.what() << "\n";
    return kExitFailure;
  }
}

int run_command_line(CLI::App& app, const Command& run, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end well; every usage error is status 2, whatever CLI11's own.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  try {
    return run ? run() : kExitUsage;
  } catch (...) {
    return report_current_error();
  }
}

}  // namespace cohort::process
