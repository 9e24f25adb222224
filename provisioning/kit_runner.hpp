#pragma once
// Running a server or client kit: its process under a watchdog, started in the
// background and stopped again (`cohort kit run|start|stop`, which the kit's start.sh and
// stop.sh call). A running kit keeps these files in its participant folder, beside
// startup/:
//
//   log.txt        the watchdog's and the process's output (appended)
//   watchdog.pid   the watchdog's pid, while it runs
//   process.pid    the process's pid, while it runs

#include "process/watchdog.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

namespace cohort::provisioning {

/// Where a kit's running files are.
struct KitFiles {
  /// `kit`: a startup folder, or the participant folder that holds it.
  explicit KitFiles(const std::filesystem::path& kit);

  std::filesystem::path startup;
  std::filesystem::path log() const { return participant() / "log.txt"; }
  std::filesystem::path watchdog_pid() const { return participant() / "watchdog.pid"; }
  std::filesystem::path process_pid() const { return participant() / "process.pid"; }
  std::filesystem::path participant() const { return startup.parent_path(); }
};

/// Runs the kit's process (`cohort_executable <role> --kit <startup>`) under a watchdog
/// in this process until it ends for good (see process::Watchdog), writing the pid files
/// meanwhile; SIGINT or SIGTERM stop both. Verifies the kit first (KitError: status 3).
/// Returns the watchdog's status.
int run_kit(const std::filesystem::path& kit, const std::filesystem::path& cohort_executable, spdlog::logger& log,
            process::RestartPolicy policy = {});

/// Verifies the kit, then starts `cohort_executable kit run <startup>` in the background
/// in a session of its own, its output appended to log.txt. Returns the watchdog's pid.
/// Throws std::runtime_error when the kit runs already.
pid_t start_kit(const std::filesystem::path& kit, const std::filesystem::path& cohort_executable);

/// Stops a running kit: SIGTERM to its watchdog (which stops the process), and SIGKILL to
/// both when they have not ended within `grace`. Returns false when nothing ran.
bool stop_kit(const std::filesystem::path& kit, std::chrono::seconds grace = std::chrono::seconds(30));

/// The pid of the kit's watchdog when it runs.
std::optional<pid_t> running_watchdog(const std::filesystem::path& kit);

}  // namespace cohort::provisioning
