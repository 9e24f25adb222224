#pragma once
// Subcommands of the runtime: the processes that do tensor work. `cohort` hands these
// command lines over unchanged (see cli/commands.hpp), so users write `cohort server ...`.

#include "process/command_line.hpp"

namespace cohort::runtime {

using process::Command;
using process::GlobalOptions;

void add_server_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_client_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_plugins_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_recipe_command(CLI::App& app, GlobalOptions& global, Command& run);
void add_memory_info_command(CLI::App& app, GlobalOptions& global, Command& run);

}  // namespace cohort::runtime
