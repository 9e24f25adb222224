#pragma once
// Subcommands of the runtime: the processes that do tensor work. `cohort` hands these
// command lines over unchanged (see cli/commands.hpp), so users write `cohort server ...`.

#include "process/command_line.hpp"

namespace cohort::runtime {

using process::Command;
using process::GlobalOptions;

process::AddSubcommand add_server_command, add_client_command, add_plugins_command, add_recipe_command,
    add_memory_info_command, add_mpi_command;

}  // namespace cohort::runtime
