#pragma once
// Subcommands of the `cohort` executable. Each add_* registers one subcommand (with its
// own --help) and the function that runs it.

#include "cli/logging.hpp"

#include <CLI/CLI.hpp>

#include <functional>

namespace cohort::cli {

/// Flags every subcommand shares.
struct GlobalOptions {
  LogOptions log;
};

/// A subcommand's body; returns the process exit status.
using Command = std::function<int()>;

/// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
/// A startup kit failed verification (the kit's watchdog does not restart on it).
inline constexpr int kExitKit = 3;

void add_plugins_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_recipe_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_simulate_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_server_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_client_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_memprofile_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_memory_info_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_provision_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_job_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_poc_command(CLI::App& app, GlobalOptions& global, Command& run);

}  // namespace cohort::cli
