#include "provisioning/kit_runner.hpp"
#include "process/launch.hpp"

#include "config/text_file.hpp"
#include "process/child_process.hpp"
#include "process/signals.hpp"
#include "provisioning/startup_kit.hpp"

#include <cohort/error.hpp>
#include <signal.h>

#include <fstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace cohort::provisioning {

namespace {

/// The pid in `file` when that process is alive.
std::optional<pid_t> live_pid(const fs::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  if (in >> pid && pid > 0 && ::kill(pid, 0) == 0) return pid;
  return std::nullopt;
}

void write_pid(const fs::path& file, pid_t pid) { config::write_text_file(file, std::to_string(pid) + "\n"); }

/// Waits up to `grace` for `pid` to be gone.
bool ended_within(pid_t pid, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (::kill(pid, 0) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

/// `cohort server --kit DIR` or `cohort client --kit DIR`.
std::vector<std::string> kit_process_command_line(const std::string& role, const fs::path& startup,
                                                  const fs::path& cohort_executable) {
  if (role == "server") {
    process::ServerLaunch server;
    server.kit = startup.string();
    return process::command_line(cohort_executable.string(), {}, server);
  }
  process::ClientLaunch client;
  client.kit = startup.string();
  return process::command_line(cohort_executable.string(), {}, client);
}

}  // namespace

KitFiles::KitFiles(const fs::path& kit) : startup(fs::absolute(startup_folder(kit)).lexically_normal()) {}

int run_kit(const fs::path& kit, const fs::path& cohort_executable, spdlog::logger& log, process::RestartPolicy policy) {
  const KitFiles files(kit);
  const KitConfig config = load_kit(files.startup);
  if (config.role != "server" && config.role != "client")
    throw ConfigError({}, "kit " + files.startup.string() + " is an " + config.role +
                                " kit: only server and client kits run a process");
  process::block_termination_signals();
  write_pid(files.watchdog_pid(), ::getpid());
  process::Watchdog watchdog(kit_process_command_line(config.role, files.startup, cohort_executable), {}, policy, log,
                             [&](pid_t pid) { write_pid(files.process_pid(), pid); });
  int status = process::kExitFailure;
  {
    process::SignalWatcher signals([&](int) { watchdog.stop(); });
    status = watchdog.run();
  }
  fs::remove(files.process_pid());
  fs::remove(files.watchdog_pid());
  return status;
}

pid_t start_kit(const fs::path& kit, const fs::path& cohort_executable) {
  const KitFiles files(kit);
  const KitConfig config = load_kit(files.startup);
  if (auto pid = running_watchdog(files.startup))
    throw std::runtime_error(config.participant + " is running already (watchdog pid " + std::to_string(*pid) + ")");
  process::ChildProcess watchdog({cohort_executable.string(), "kit", "run", files.startup.string()}, {}, files.log(),
                                 process::ChildProcess::Session::own);
  const pid_t pid = watchdog.pid();
  watchdog.detach();
  return pid;
}

bool stop_kit(const fs::path& kit, std::chrono::seconds grace) {
  const KitFiles files(kit);
  const auto watchdog = live_pid(files.watchdog_pid());
  // A watchdog that was killed leaves its process behind: stop that one directly.
  const auto target = watchdog ? watchdog : live_pid(files.process_pid());
  if (!target) {
    fs::remove(files.process_pid());
    fs::remove(files.watchdog_pid());
    return false;
  }
  ::kill(*target, SIGTERM);
  if (!ended_within(*target, grace)) {
    if (auto process = live_pid(files.process_pid())) ::kill(*process, SIGKILL);
    ::kill(*target, SIGKILL);
    ended_within(*target, std::chrono::seconds(5));
  }
  fs::remove(files.process_pid());
  fs::remove(files.watchdog_pid());
  return true;
}

std::optional<pid_t> running_watchdog(const fs::path& kit) { return live_pid(KitFiles(kit).watchdog_pid()); }

}  // namespace cohort::provisioning
