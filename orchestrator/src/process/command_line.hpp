#pragma once
// What the `cohort` executable and the runtime it hands tensor work to share: the global
// flags, exit statuses, and running a parsed command with every error mapped to one.

#include "process/logging.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
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

/// Validators for option values, each with a message that says what is expected (CLI11
/// prefixes the option's name: `--clients: must be a whole number of at least 1, not '0'`).
/// A whole number >= `min`.
CLI::Validator at_least(std::int64_t min);
/// A whole number in [min, max].
CLI::Validator between(std::int64_t min, std::int64_t max);
/// "auto", or a whole number >= 1.
CLI::Validator auto_or_count();
/// A number (decimal) >= `min`.
CLI::Validator number_at_least(double min);
/// A number (decimal) > 0.
CLI::Validator positive_number();
/// A file that exists and is not a folder.
CLI::Validator existing_file();
/// A folder that exists.
CLI::Validator existing_folder();
/// A recipe file: one that exists; a folder is refused with the recipes it holds.
CLI::Validator recipe_file();

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

/// Prints the error being handled as one "error: ..." line (unless `print` is false) and
/// returns its exit status: ExitStatusErrors their own, ConfigErrors 2, anything else 1.
/// Call from a catch block.
int report_current_error(bool print = true);

/// Parses `argv` with `app` (whose subcommands set `run`) and runs the command. Usage
/// errors and ConfigErrors exit 2, ExitStatusErrors their status, other errors 1; each is
/// printed as one "error: ..." line.
int run_command_line(CLI::App& app, const Command& run, int argc, char** argv);

/// The type of a function that adds a subcommand to `app` (with its own --help) and sets
/// `run` to its body when it is the one chosen. Each is declared with it:
/// `AddSubcommand add_server_command;`
using AddSubcommand = void(CLI::App& app, GlobalOptions& global, Command& run);
using AddCommand = AddSubcommand*;

/// A subcommand whose own subcommands share one arguments struct `A` (`cohort job
/// submit|list|...`): each runs its body with the shared arguments.
template <class A>
class CommandGroup {
 public:
  /// Adds `name` to `app`; `common` adds the options every subcommand of the group takes.
  CommandGroup(CLI::App& app, const std::string& name, const std::string& help, Command& run,
               void (*common)(CLI::App& cmd, A& args))
      : group_(app.add_subcommand(name, help)), run_(run), common_(common), args_(std::make_shared<A>()) {
    group_->require_subcommand(1);
  }
  /// Adds subcommand `name` that runs `body(args)`.
  CLI::App* add(const std::string& name, const std::string& help, int (*body)(const A&)) {
    auto* cmd = group_->add_subcommand(name, help);
    common_(*cmd, *args_);
    // The group may be gone when the callback runs: it holds only what outlives the parse.
    cmd->callback([&run = run_, args = args_, body] { run = [args, body] { return body(*args); }; });
    return cmd;
  }
  A& args() { return *args_; }

 private:
  CLI::App* group_;
  Command& run_;
  void (*common_)(CLI::App&, A&);
  std::shared_ptr<A> args_;
};

/// A `cohort` command line: the global flags and the subcommands added to it.
class CommandLine {
 public:
  CommandLine();
  /// Adds each subcommand.
  void add(std::initializer_list<AddCommand> commands);
  CLI::App& app() { return app_; }
  /// Parses `argv` and runs the chosen command (see run_command_line).
  int run(int argc, char** argv) { return run_command_line(app_, run_, argc, argv); }

 private:
  CLI::App app_{"cohort: federated-learning job orchestrator", "cohort"};
  GlobalOptions global_;
  Command run_;
};

}  // namespace cohort::process
