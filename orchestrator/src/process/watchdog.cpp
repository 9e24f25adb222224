#include "process/watchdog.hpp"

#include "process/child_process.hpp"
#include "process/command_line.hpp"

#include <signal.h>

#include <deque>

namespace cohort::process {

Watchdog::Watchdog(std::vector<std::string> argv, std::filesystem::path output, RestartPolicy policy,
                   spdlog::logger& log, std::function<void(pid_t)> on_start)
    : argv_(std::move(argv)), output_(std::move(output)), policy_(policy), log_(log), on_start_(std::move(on_start)) {}

int Watchdog::run() {
  using Clock = std::chrono::steady_clock;
  std::deque<Clock::time_point> restarts;
  std::string command;
  for (const auto& a : argv_) command += (command.empty() ? "" : " ") + a;
  while (true) {
    std::optional<ChildProcess> child;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      log_.info("starting: {}", command);
      child.emplace(argv_, std::map<std::string, std::string>{}, output_);
      pid_ = child->pid();
    }
    if (on_start_) on_start_(child->pid());
    const int status = child->wait();
    {
      std::lock_guard lock(mutex_);
      pid_ = -1;
      if (stopping_) break;
    }
    if (status == kExitOk) {
      log_.info("exited normally");
      return kExitOk;
    }
    if (status == kExitUsage || status == kExitKit) {
      log_.error("refused to start (status {}): see the message above; not restarting", status);
      return status;
    }
    const auto now = Clock::now();
    while (!restarts.empty() && now - restarts.front() >= policy_.window) restarts.pop_front();
    if (static_cast<int>(restarts.size()) >= policy_.max_restarts) {
      log_.error("exited with status {}; {} restarts within {} s already: giving up", status,
                 policy_.max_restarts, policy_.window.count());
      return kExitFailure;
    }
    restarts.push_back(now);
    log_.warn("exited with status {}: restarting ({} of {} within {} s)", status, restarts.size(),
              policy_.max_restarts, policy_.window.count());
    if (!pause_before_restart()) break;
  }
  log_.info("stopped");
  return kExitOk;
}

bool Watchdog::pause_before_restart() {
  std::unique_lock lock(mutex_);
  return !stopped_.wait_for(lock, policy_.delay, [this] { return stopping_; });
}

void Watchdog::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  if (pid_ > 0) ::kill(pid_, SIGTERM);
  stopped_.notify_all();
}

}  // namespace cohort::process
