#pragma once
// Starting real cohort processes from integration tests.

#include "process/child_process.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cohort::test {

/// argv for the built `cohort` executable.
std::vector<std::string> cohort_command(const std::vector<std::string>& args);

/// Runs a command to its end (at most `timeout`); returns its status and output.
struct Finished {
  int status = -1;
  std::string output;
};
Finished run(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
             const std::map<std::string, std::string>& env = {},
             std::chrono::seconds timeout = std::chrono::seconds(300));

/// The only job folder under `workspace`/jobs.
std::filesystem::path only_job(const std::filesystem::path& workspace);

/// Waits for `file` to hold a line (a port) while `process` runs; returns it.
std::string wait_for_line(const std::filesystem::path& file, process::ChildProcess& process,
                          std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace cohort::test
