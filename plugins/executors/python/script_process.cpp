#include "script_process.hpp"

#include <spdlog/logger.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

namespace cohort::python {

namespace {

std::string random_token() {
  std::random_device device;
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) out << std::hex << device();
  return out.str();
}

// Kills by the kernel's OOM killer in this process's cgroup so far (cgroup v2), or
// nothing when the counter cannot be read.
std::optional<std::uint64_t> oom_kills() {
  std::ifstream cgroup("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cgroup, line)) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  if (path.empty()) return std::nullopt;
  std::ifstream events("/sys/fs/cgroup" + path + "/memory.events");
  std::string key;
  std::uint64_t value = 0;
  while (events >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return std::nullopt;
}

}  // namespace

ScriptProcess::ScriptProcess(const ScriptCommand& command, ControlListener& listener, spdlog::logger& log)
    : who_(command.who), token_(random_token()), listener_(listener), log_(log) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  auto env = command.env;
  env["COHORT_CONTROL_SOCKET"] = listener.path();
  env["COHORT_TOKEN"] = token_;
  oom_kills_at_start_ = oom_kills().value_or(0);
  try {
    // A session of its own: stopping it ends whatever it started too.
    child_.emplace(command.argv, env, write_end.get(), process::ChildProcess::Session::own);
  } catch (const std::exception& e) {
    throw ScriptError(who_ + ": " + e.what());
  }
  write_end = UniqueFd();
  reader_ = std::thread([this, pipe = std::move(read_end)]() mutable { read_output(std::move(pipe)); });
  log_.info("{}: started (pid {})", who_, child_->pid());
}

ScriptProcess::~ScriptProcess() {
  stop(std::chrono::seconds(5));
  if (reader_.joinable()) reader_.join();
}

void ScriptProcess::read_output(UniqueFd pipe) {
  std::string pending;
  char buffer[4096];
  auto emit = [this](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    log_.info("{}: {}", who_, line);
    std::lock_guard lock(tail_mutex_);
    tail_.push_back(std::move(line));
    if (tail_.size() > kTailLines) tail_.pop_front();
  };
  while (true) {
    const ssize_t n = ::read(pipe.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // every writer closed: the script (and its children) ended
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0, end;
    while ((end = pending.find('\n', start)) != std::string::npos) {
      emit(pending.substr(start, end - start));
      start = end + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) emit(pending);
  std::lock_guard lock(tail_mutex_);
  output_closed_ = true;
  output_ended_.notify_all();
}

bool ScriptProcess::running() { return child_ && !child_->poll(); }

std::string ScriptProcess::describe_failure(const std::string& message) {
  std::string text = who_ + ": " + message;
  if (auto status = child_ ? child_->poll() : std::nullopt) {
    // The output pipe closes when the script ends: give the reader a moment to take the
    // last lines.
    std::unique_lock lock(tail_mutex_);
    output_ended_.wait_for(lock, std::chrono::seconds(2), [this] { return output_closed_; });
    if (*status == 128 + SIGKILL) {
      const auto kills = oom_kills();
      if (kills && *kills > oom_kills_at_start_) text += " (killed by the kernel's OOM killer: memory ran out)";
      else text += " (killed by SIGKILL)";
    } else if (*status > 128) {
      text += " (killed by signal " + std::to_string(*status - 128) + ")";
    } else {
      text += " (exit status " + std::to_string(*status) + ")";
    }
  }
  std::lock_guard lock(tail_mutex_);
  if (tail_.empty()) return text + "; it printed nothing";
  text += "; its last lines:";
  for (const auto& line : tail_) text += "\n    " + line;
  return text;
}

std::function<bool()> ScriptProcess::watch(const std::function<bool()>& keep_waiting, std::string& why,
                                           const std::string& exited, const std::function<std::string()>& gave_up) {
  return [this, &keep_waiting, &why, exited, &gave_up] {
    if (!running()) {
      why = exited;
      return false;
    }
    if (!keep_waiting()) {
      why = gave_up();
      return false;
    }
    return true;
  };
}

void ScriptProcess::connect(const nlohmann::json& welcome, const std::function<bool()>& keep_waiting) {
  std::string why;
  const std::function<std::string()> late = [] { return std::string("did not call cohort.init() in time"); };
  const auto waiting = watch(keep_waiting, why, "exited before it called cohort.init()", late);
  while (!channel_) {
    auto socket = listener_.accept(waiting);
    if (!socket) throw ScriptError(describe_failure(why));
    ControlChannel channel(std::move(*socket));
    // A late connection of a script started before this one is told apart by its token.
    try {
      auto hello = channel.receive(waiting);
      if (!hello) throw ScriptError(describe_failure(why));
      if (hello->body.value("op", "") == "hello" && hello->body.value("token", "") == token_) {
        channel_.emplace(std::move(channel));
      }
    } catch (const ChannelError&) {
      // Not our script, or one that went away: wait for ours.
    }
  }
  channel_->send(welcome);
}

void ScriptProcess::send(const nlohmann::json& body, const std::vector<int>& fds) {
  try {
    channel_->send(body, fds);
  } catch (const ChannelError& e) {
    throw ScriptError(describe_failure(e.what()));
  }
}

Frame ScriptProcess::receive(const std::function<bool()>& keep_waiting, const std::function<std::string()>& why_not) {
  const std::string exited = "exited before it sent a result";
  std::string why;
  const auto waiting = watch(keep_waiting, why, exited, why_not);
  try {
    if (auto frame = channel_->receive(waiting)) return std::move(*frame);
  } catch (const ChannelError& e) {
    // A closed socket usually means the script ended: say how.
    if (child_) child_->wait_for(std::chrono::seconds(2));
    throw ScriptError(describe_failure(running() ? std::string(e.what()) : exited));
  }
  throw ScriptError(describe_failure(why));
}

void ScriptProcess::stop(std::chrono::milliseconds grace) {
  if (!child_) return;
  const pid_t group = child_->pid();
  if (!child_->poll()) {
    bool ended = false;
    if (channel_) {
      try {
        channel_->send({{"op", "stop"}});
      } catch (const ChannelError&) {
      }
      ended = child_->wait_for(grace).has_value();
    }
    if (!ended) {
      child_->signal(SIGTERM);
      if (!child_->wait_for(std::chrono::seconds(3))) {
        child_->signal(SIGKILL);
        child_->wait_for(std::chrono::seconds(5));
      }
    }
  }
  // Whatever the script started (data loader workers, ...) ends with it.
  if (group > 0) ::kill(-group, SIGKILL);
}

}  // namespace cohort::python
