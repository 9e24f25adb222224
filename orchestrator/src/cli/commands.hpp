#pragma once
// Subcommands of the `cohort` executable. Each add_* registers one subcommand (with its
// own --help) and the function that runs it. These are the light commands: none loads
// libtorch. The commands that do tensor work run in the runtime (add_runtime_commands).

#include "process/command_line.hpp"

#include <optional>

namespace cohort::cli {

using process::Command;
using process::GlobalOptions;

process::AddSubcommand add_simulate_command, add_compare_command, add_memprofile_command, add_provision_command, add_job_command,
    add_poc_command, add_kit_command, add_dashboard_command;

/// Lists server, client, plugins, recipe and memory-info in `app`'s help; they run in the
/// runtime (hand_off_to_runtime).
void add_runtime_commands(CLI::App& app);

/// When `argv` names a runtime command: hands the whole command line to the runtime
/// executable, in this process's place (the pid stays), after putting a kit process's
/// role environment in place (`--kit DIR`: MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_,
/// jemalloc on request). Returns (an exit status) only when it could not.
std::optional<int> hand_off_to_runtime(int argc, char** argv);

}  // namespace cohort::cli
