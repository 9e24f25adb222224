// The commands `cohort` hands to the runtime executable: the command line goes over
// unchanged, in this process's place (execv keeps the pid, so a watchdog or a test that
// started `cohort server` still holds the right one).
#include "cli/commands.hpp"

#include "config/recipe_file.hpp"
#include "process/launch.hpp"
#include "process/role_environment.hpp"
#include "process/runtime_commands.hpp"
#include "provisioning/startup_kit.hpp"

#include <cohort/error.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <unistd.h>

namespace cohort::cli {

namespace {

/// The memory environment of the process a kit starts (its role's settings, written
/// into kit.toml by `cohort provision`).
std::map<std::string, std::string> kit_environment(const std::string& kit_dir, const std::string& role) {
  const auto env = provisioning::kit_environment(provisioning::load_kit(provisioning::startup_folder(kit_dir)));
  std::cerr << "cohort " << role << ":";
  for (const auto& [name, value] : env) std::cerr << " " << name << "=" << value;
  std::cerr << "\n";
  return env;
}

/// The rank of this process under mpirun or srun, from the launcher's environment.
std::optional<int> launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return std::nullopt;
}

/// The memory environment of a `cohort mpi` rank: the recipe's server settings on rank 0,
/// its client settings on the others, as `simulate` gives its processes. Nothing when the
/// recipe cannot be read: the runtime reports that, once, on rank 0.
std::map<std::string, std::string> mpi_environment(const process::MpiLaunch& mpi) {
  const auto rank = launcher_rank();
  if (!rank) return {};
  try {
    const auto recipe = config::read_recipe_file(mpi.recipe, mpi.overrides);
    const auto& memory = recipe.memory;
    const bool reuse = recipe.simulation.reuse_model_memory;
    return *rank == 0 ? process::role_environment(memory.server_malloc_arena_max, memory.server_malloc_mmap_threshold_kib, reuse)
                      : process::role_environment(memory.client_malloc_arena_max, memory.client_malloc_mmap_threshold_kib, reuse);
  } catch (const std::exception&) {
    return {};
  }
}

/// Replaces this process with the runtime and the same command line, `env` added; under
/// the wrapper of kRuntimeWrapperVariable when one is set.
[[noreturn]] void exec_runtime(int argc, char** argv, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
  const std::string runtime = process::runtime_executable().string();
  std::vector<std::string> command;
  if (const char* wrapper = std::getenv(process::kRuntimeWrapperVariable)) {
    std::istringstream lines(wrapper);
    std::string arg;
    const auto rank = launcher_rank();
    while (std::getline(lines, arg)) {
      if (auto at = arg.find("%r"); at != std::string::npos && rank) arg.replace(at, 2, std::to_string(*rank));
      if (!arg.empty()) command.push_back(arg);
    }
    ::unsetenv(process::kRuntimeWrapperVariable);  // the runtime's own children are not wrapped
  }
  command.push_back(runtime);
  command.insert(command.end(), argv + 1, argv + argc);
  std::vector<char*> args;
  for (auto& a : command) args.push_back(a.data());
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  throw IoError::from_errno(command.front(), "run", errno);
}

}  // namespace

void add_runtime_commands(CLI::App& app) {
  for (const auto& command : process::kRuntimeCommands) app.add_subcommand(command.name, command.description);
}

std::optional<int> hand_off_to_runtime(int argc, char** argv) {
  const int at = process::subcommand_index(argc, argv);
  if (at == 0) return std::nullopt;
  const std::string name = argv[at];
  const bool runtime = std::any_of(std::begin(process::kRuntimeCommands), std::end(process::kRuntimeCommands),
                                   [&](const auto& c) { return name == c.name; });
  if (!runtime) return std::nullopt;
  try {
    std::map<std::string, std::string> env;
    const std::vector<std::string> args(argv + at + 1, argv + argc);
    if (name == "server") {
      if (auto server = process::parse_arguments<process::ServerLaunch>(args); server && !server->kit.empty()) env = kit_environment(server->kit, name);
    } else if (name == "client") {
      if (auto client = process::parse_arguments<process::ClientLaunch>(args); client && !client->kit.empty()) env = kit_environment(client->kit, name);
    } else if (name == "mpi") {
      if (auto mpi = process::parse_arguments<process::MpiLaunch>(args)) env = mpi_environment(*mpi);
    }
    exec_runtime(argc, argv, env);
  } catch (...) {
    return process::report_current_error();
  }
}

}  // namespace cohort::cli
