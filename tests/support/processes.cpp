#include "support/processes.hpp"

#include "support/temp_dir.hpp"

#include "jobs/job_directory.hpp"
#include "provisioning/local_project.hpp"

#include <csignal>
#include <fstream>
#include <iterator>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace cohort::test {

std::vector<std::string> cohort_command(const std::vector<std::string>& args) {
  std::vector<std::string> argv{COHORT_EXECUTABLE};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Finished run(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
             const std::map<std::string, std::string>& env, std::chrono::seconds timeout) {
  process::ChildProcess process(argv, env, output_file);
  Finished f;
  auto status = process.wait_for(timeout);
  if (!status) {
    process.signal(SIGKILL);
    status = process.wait_for(std::chrono::seconds(10));
  }
  f.status = status.value_or(-1);
  f.output = read_text(output_file);
  return f;
}

process::ChildProcess start_job_server(const std::filesystem::path& dir, const std::string& sites,
                                       const std::vector<std::string>& extra) {
  std::vector<std::string> args{"--log-file", (dir / "server.log").string(), "server", "--workspace",
                                (dir / "ws").string(), "--run-job", (dir / "recipe.toml").string(), "--sites", sites,
                                "--port-file", (dir / "port").string(), "--identity", (dir / "kits" / "server").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return process::ChildProcess(cohort_command(args), {}, dir / "server.out");
}

process::ChildProcess start_job_client(const std::filesystem::path& dir, const std::string& port, const std::string& name,
                                       const std::vector<std::filesystem::path>& identities,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& extra) {
  std::vector<std::string> args{"client", "--server", "127.0.0.1:" + port, "--workspace", (dir / "ws").string(),
                                "--process-name", name, "--exit-on-bye"};
  for (const auto& identity : identities) {
    args.push_back("--identity");
    args.push_back(identity.string());
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return process::ChildProcess(cohort_command(args), env, dir / (name + ".out"));
}

LocalRun run_local_job(const std::filesystem::path& dir, int sites, int killed, std::uint64_t kill_after_bytes,
                       const std::vector<std::string>& extra) {
  std::vector<std::string> names;
  for (int i = 1; i <= sites; ++i) names.push_back("site-" + std::to_string(i));
  provisioning::provision_local(dir / "kits", "test", "server", names);
  std::string joined;
  for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n;
  auto server = start_job_server(dir, joined, extra);
  const auto port = wait_for_line(dir / "port", server);
  LocalRun run;
  for (int i = 1; i <= sites; ++i) {
    std::map<std::string, std::string> env;
    if (i == killed) env["COHORT_FAULT_KILL_AFTER_UPLOAD_BYTES"] = std::to_string(kill_after_bytes);
    run.clients.push_back(start_job_client(dir, port, "client-" + std::to_string(i), {dir / "kits" / names[i - 1]}, env, extra));
  }
  run.server_status = server.wait_for(std::chrono::seconds(120)).value_or(-1);
  if (run.server_status != 0) std::cerr << read_text(dir / "server.log");
  return run;
}

std::vector<int> processes_mentioning(const std::string& text) {
  std::vector<int> found;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(text) != std::string::npos && std::stoi(name) != ::getpid()) found.push_back(std::stoi(name));
  }
  return found;
}

std::filesystem::path only_job(const std::filesystem::path& workspace) {
  return jobs::JobDirectory::only_job(workspace).root();
}

std::string wait_for_line(const std::filesystem::path& file, process::ChildProcess& process, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    std::string line;
    if (std::getline(in, line) && !line.empty()) return line;
    if (process.poll()) throw std::runtime_error("the process exited before writing " + file.string());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("timed out waiting for " + file.string());
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout, std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return false;
}

}  // namespace cohort::test
