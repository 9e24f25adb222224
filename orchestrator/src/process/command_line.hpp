#pragma once
// What the `cohort` executable and the runtime it hands tensor work to share: the global
// flags, exit statuses, and running a parsed command with every error mapped to one.

#include "process/logging.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace cohort::process {

/// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
/// A bad recipe, project file or flag.
inline constexpr int kExitUsage = 2;
/// A startup kit failed verification (the kit's watchdog does not restart on it).
inline constexpr int kExitKit = 3;

/// An error that ends the process with its own exit status.
class ExitStatusError : public std::runtime_error {
 public:
  ExitStatusError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

/// Flags every subcommand shares.
struct GlobalOptions {
  LogOptions log;
};

/// A subcommand's body; returns the process exit status.
using Command = std::function<int()>;

/// Adds -v/--verbose, --log-level and --log-file to `app`.
void add_global_options(CLI::App& app, GlobalOptions& global);

/// Where the subcommand's name is in `argv` (after the global flags), or 0 when there is
/// none.
int subcommand_index(int argc, char** argv);

/// Prints the error being handled as one "error: ..." line and returns its exit status:
/// ExitStatusErrors their own, ConfigErrors 2, anything else 1. Call from a catch block.
int report_current_error();

/// Parses `argv` with `app` (whose subcommands set `run`) and runs the command. Usage
/// errors and ConfigErrors exit 2, ExitStatusErrors their status, other errors 1; each is
/// printed as one "error: ..." line.
int run_command_line(CLI::App& app, const Command& run, int argc, char** argv);

}  // namespace cohort::process
