// The commands `cohort` hands to the runtime executable: the command line goes over
// unchanged, in this process's place (execv keeps the pid, so a watchdog or a test that
// started `cohort server` still holds the right one).
#include "cli/commands.hpp"

#include "process/runtime_commands.hpp"
#include "provisioning/startup_kit.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>

#include <unistd.h>

namespace cohort::cli {

namespace {

/// The value of `--kit DIR` or `--kit=DIR` among a subcommand's arguments.
std::optional<std::string> kit_argument(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--kit" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--kit=", 0) == 0) return args[i].substr(6);
  }
  return std::nullopt;
}

/// The memory environment of the process a kit starts (its role's settings, written
/// into kit.toml by `cohort provision`).
std::map<std::string, std::string> kit_environment(const std::string& kit_dir, const std::string& role) {
  const auto env = provisioning::kit_environment(provisioning::load_kit(provisioning::startup_folder(kit_dir)));
  std::cerr << "cohort " << role << ":";
  for (const auto& [name, value] : env) std::cerr << " " << name << "=" << value;
  std::cerr << "\n";
  return env;
}

[[noreturn]] void exec_runtime(int argc, char** argv, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
  const std::string runtime = process::runtime_executable().string();
  std::vector<char*> args(argv, argv + argc);
  args[0] = const_cast<char*>(runtime.c_str());
  args.push_back(nullptr);
  ::execv(runtime.c_str(), args.data());
  throw std::runtime_error("cannot run " + runtime + ": " + std::strerror(errno));
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
    if (name == "server" || name == "client") {
      if (auto kit = kit_argument(std::vector<std::string>(argv + at + 1, argv + argc))) env = kit_environment(*kit, name);
    }
    exec_runtime(argc, argv, env);
  } catch (...) {
    return process::report_current_error();
  }
}

}  // namespace cohort::cli
