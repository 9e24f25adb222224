#include "process/command_line.hpp"

#include <cohort/error.hpp>

#include <iostream>

namespace cohort::process {

void add_global_options(CLI::App& app, GlobalOptions& global) {
  app.require_subcommand(1);
  app.fallthrough();
  app.add_flag("-v,--verbose", global.log.verbose, "Log debug messages");
  app.add_option("--log-level", global.log.level, "Log level: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-file", global.log.file, "Also write this process's log to FILE");
}

CommandLine::CommandLine() { add_global_options(app_, global_); }

void CommandLine::add(std::initializer_list<AddCommand> commands) {
  for (AddCommand add : commands) add(app_, global_, run_);
}

int subcommand_index(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--log-level" || arg == "--log-file") {
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
    return app.exit(e);
  }
  try {
    return run ? run() : kExitUsage;
  } catch (...) {
    return report_current_error();
  }
}

}  // namespace cohort::process
