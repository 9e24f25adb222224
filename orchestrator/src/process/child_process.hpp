#pragma once
// A child process started with posix_spawn: its own environment additions, its output
// into a file, and a handle to wait for it or stop it. Every process cohort starts is
// started through it.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace cohort::process {

class ChildProcess {
 public:
  /// How it starts besides its command.
  enum class Session {
    /// In this process's session and process group: a terminal's Ctrl-C reaches it.
    same,
    /// A session of its own, detached from any terminal (a daemon).
    own,
  };

  /// Starts `argv` with the current environment plus `env`; stdout and stderr go to
  /// `output` (appended; empty: this process's own). Throws std::runtime_error when it
  /// cannot start.
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::filesystem::path& output, Session session = Session::same);
  /// The same, with stdout and stderr going to `output_fd` (e.g. a pipe's write end, which
  /// the caller closes afterwards).
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int output_fd,
               Session session = Session::same);
  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// The exit status once it exited (128 + signal when killed); nothing while it runs.
  std::optional<int> poll();
  /// Waits up to `timeout` for it to exit.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  /// Waits for it to exit; returns the exit status.
  int wait();
  /// Sends `signal` (if it still runs).
  void signal(int signal);
  /// Lets it run on after this handle is gone (not waited for, not killed).
  void detach() { pid_ = -1; }

 private:
  struct Output {
    const std::filesystem::path* file = nullptr;
    int fd = -1;
  };
  void start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, Output output,
             Session session);
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Runs `argv` to its end, its output appended to `output`; returns its exit status.
int run_to_end(const std::vector<std::string>& argv, const std::filesystem::path& output);

/// Runs gnuplot on `script` (which draws `what`); its messages go to `script` + ".out", kept
/// only when there are some. Throws, naming that file, when gnuplot fails.
void run_gnuplot(const std::filesystem::path& script, const std::string& what);

/// The path of the running executable.
std::filesystem::path self_executable();

}  // namespace cohort::process
