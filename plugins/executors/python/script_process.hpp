#pragma once
// One running user script: started with its output piped into the site's log (the last
// lines kept for error messages), connected over the control socket once it calls
// cohort.init(), and stopped (SIGTERM, then SIGKILL) when it is no longer wanted.

#include "control_channel.hpp"
#include "process/child_process.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::python {

/// How a script is started.
struct ScriptCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  /// For messages: "site 'site-1': script train.py".
  std::string who;
};

/// Thrown when a script fails a task; what() names the site and the script and ends with
/// the script's last lines of output.
class ScriptError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ScriptProcess {
 public:
  /// Starts the script; it must connect to `listener` and say hello with the token this
  /// call puts in its environment. Its output lines go to `log`.
  ScriptProcess(const ScriptCommand& command, ControlListener& listener, spdlog::logger& log);
  ~ScriptProcess();
  ScriptProcess(const ScriptProcess&) = delete;

  /// Waits until the script connected and said hello, then sends `welcome`. Throws
  /// ScriptError when it exits first or `keep_waiting` gives up.
  void connect(const nlohmann::json& welcome, const std::function<bool()>& keep_waiting);
  /// Sends a frame (the script must be connected).
  void send(const nlohmann::json& body, const std::vector<int>& fds = {});
  /// The next frame; throws ScriptError when the script exits, breaks the protocol or
  /// `keep_waiting` gives up (`why_not` says why, for the message).
  Frame receive(const std::function<bool()>& keep_waiting, const std::function<std::string()>& why_not);
  /// True while the process runs.
  bool running();
  /// Asks the script to end (a "stop" frame when connected), waits up to `grace`, then
  /// SIGTERM and SIGKILL.
  void stop(std::chrono::milliseconds grace);
  /// `message` followed by how the script ended (when it did) and its last lines.
  std::string describe_failure(const std::string& message);

 private:
  void read_output(UniqueFd pipe);
  /// A wait condition for the channel: false once the script exited (`why` = `exited`)
  /// or `keep_waiting` gives up (`why` = gave_up()).
  std::function<bool()> watch(const std::function<bool()>& keep_waiting, std::string& why, const std::string& exited,
                              const std::function<std::string()>& gave_up);

  std::string who_;
  std::string token_;
  ControlListener& listener_;
  spdlog::logger& log_;
  std::optional<process::ChildProcess> child_;
  std::optional<ControlChannel> channel_;
  std::thread reader_;
  std::mutex tail_mutex_;
  std::condition_variable output_ended_;
  bool output_closed_ = false;
  std::deque<std::string> tail_;
  std::uint64_t oom_kills_at_start_ = 0;
};

/// Lines of output kept for error messages.
inline constexpr std::size_t kTailLines = 20;

}  // namespace cohort::python
