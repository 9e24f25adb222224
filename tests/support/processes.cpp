#include "support/processes.hpp"

#include "support/temp_dir.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

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

std::filesystem::path only_job(const std::filesystem::path& workspace) {
  std::vector<std::filesystem::path> jobs;
  for (const auto& e : std::filesystem::directory_iterator(workspace / "jobs")) jobs.push_back(e.path());
  if (jobs.size() != 1) throw std::runtime_error("expected one job in " + workspace.string());
  return jobs.front();
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

}  // namespace cohort::test
