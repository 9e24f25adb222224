#include "process/child_process.hpp"
#include "process/runtime_commands.hpp"

#include <cohort/error.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace cohort::process {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                           const std::filesystem::path& output, Session session) {
  if (output.has_parent_path()) std::filesystem::create_directories(output.parent_path());
  start(argv, env, Output{output.empty() ? nullptr : &output, -1}, session);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                           int output_fd, Session session) {
  start(argv, env, Output{nullptr, output_fd}, session);
}

void ChildProcess::start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         Output output, Session session) {
  std::vector<std::string> environment;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (!env.count(key)) environment.push_back(entry);
  }
  for (const auto& [k, v] : env) environment.push_back(k + "=" + v);
  std::vector<char*> env_ptrs, argv_ptrs;
  for (auto& e : environment) env_ptrs.push_back(e.data());
  env_ptrs.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (auto& a : args) argv_ptrs.push_back(a.data());
  argv_ptrs.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (output.file) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.file->c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else if (output.fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, output.fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output.fd, STDERR_FILENO);
  }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // The child starts with default signal handling and nothing blocked, whatever we block.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (session == Session::own) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attributes, flags);
  const int rc = posix_spawnp(&pid_, argv_ptrs[0], &actions, &attributes, argv_ptrs.data(), env_ptrs.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw IoError::from_errno(argv.front(), "start", rc);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(status_, other.status_);
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !poll()) {
    ::kill(pid_, SIGKILL);
    wait_for(std::chrono::seconds(5));
  }
}

std::optional<int> ChildProcess::poll() {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  pid_t r = ::waitpid(pid_, &raw, WNOHANG);
  if (r == pid_) status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return status_;
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!poll() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

int ChildProcess::wait() {
  while (!poll()) {
    int raw = 0;
    if (::waitpid(pid_, &raw, 0) == pid_) status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  }
  return *status_;
}

int run_to_end(const std::vector<std::string>& argv, const std::filesystem::path& output) {
  return ChildProcess(argv, {}, output).wait();
}

void run_gnuplot(const std::filesystem::path& script, const std::string& what) {
  const std::filesystem::path messages = script.string() + ".out";
  std::filesystem::remove(messages);
  if (run_to_end({"gnuplot", script.string()}, messages) != 0)
    throw std::runtime_error("gnuplot failed to draw " + what + " (is gnuplot-nox installed?), see " +
                             messages.string());
  std::error_code ignored;
  if (std::filesystem::exists(messages) && std::filesystem::file_size(messages, ignored) == 0)
    std::filesystem::remove(messages, ignored);
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !poll()) ::kill(pid_, sig);
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

std::filesystem::path runtime_executable() {
  return (self_executable().parent_path() / kRuntimeRelativePath).lexically_normal();
}

}  // namespace cohort::process
