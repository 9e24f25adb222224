#pragma once
// A process kept alive: started again when it dies, within a restart budget. What a
// startup kit runs its server or client under (`cohort kit run`).

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>

namespace cohort::process {

/// When a watchdog starts its process again.
struct RestartPolicy {
  /// At most this many restarts within `window`; a death beyond them ends the watchdog.
  int max_restarts = 5;
  std::chrono::seconds window{300};
  /// The pause before each restart.
  std::chrono::milliseconds delay{1000};
};

class Watchdog {
 public:
  /// Watches `argv`, its output appended to `output` (empty: this process's own). Each
  /// start is reported to `on_start` with the new pid (e.g. to write a pid file).
  Watchdog(std::vector<std::string> argv, std::filesystem::path output, RestartPolicy policy,
           spdlog::logger& log, std::function<void(pid_t)> on_start = {});

  /// Starts the process and starts it again each time it dies, until it exits 0, exits
  /// refusing its configuration or kit (kExitUsage, kExitKit: restarting cannot help),
  /// stop() is called, or the restart budget is spent. Returns 0 when it exited 0 or was
  /// stopped, the refusal's status, or kExitFailure when the watchdog gave up.
  int run();

  /// From any thread (a signal watcher): sends the process SIGTERM and ends run() once
  /// it has exited, without a restart.
  void stop();

 private:
  /// Waits the restart delay; false when stopped meanwhile.
  bool pause_before_restart();

  std::vector<std::string> argv_;
  std::filesystem::path output_;
  RestartPolicy policy_;
  spdlog::logger& log_;
  std::function<void(pid_t)> on_start_;

  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  /// The running process (-1: none); guarded by mutex_.
  pid_t pid_ = -1;
};

}  // namespace cohort::process
