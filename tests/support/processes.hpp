#pragma once
// Starting real cohort processes from integration tests.

#include "process/child_process.hpp"

#include <filesystem>
#include <functional>
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

/// A job's server, as the integration tests run one under `dir`: `cohort server --run-job
/// dir/recipe.toml --sites SITES` (comma-separated) with the identity dir/kits/server, the
/// workspace dir/ws, its log in dir/server.log and its port written to dir/port; `extra`
/// arguments appended.
process::ChildProcess start_job_server(const std::filesystem::path& dir, const std::string& sites,
                                       const std::vector<std::string>& extra = {});

/// A client process `name` of that job, hosting one site per identity folder, exiting on
/// the server's final goodbye; its output in dir/<name>.out, `env` added, `extra` appended.
process::ChildProcess start_job_client(const std::filesystem::path& dir, const std::string& port, const std::string& name,
                                       const std::vector<std::filesystem::path>& identities,
                                       const std::map<std::string, std::string>& env = {},
                                       const std::vector<std::string>& extra = {});

/// A job run to its end on this machine: kits for site-1..site-N provisioned in dir/kits,
/// the server and one client process per site started as above (`extra` passed to
/// each), site `killed` (1-based; 0: none) killing itself with SIGKILL after it wrote
/// `kill_after_bytes` of a model. Waits up to 120 s for the server.
struct LocalRun {
  /// The server's exit status (-1: it did not end); its log is printed when not 0.
  int server_status = -1;
  std::vector<process::ChildProcess> clients;
};
LocalRun run_local_job(const std::filesystem::path& dir, int sites, int killed = 0, std::uint64_t kill_after_bytes = 0,
                       const std::vector<std::string>& extra = {});

/// Polls `done` every `poll` until it holds (true) or `timeout` passed (false).
bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout = std::chrono::seconds(120),
                std::chrono::milliseconds poll = std::chrono::milliseconds(5));

/// Processes (other than this one) whose command line mentions `text` (a test's folder).
std::vector<int> processes_mentioning(const std::string& text);

/// The only job folder under `workspace`/jobs.
std::filesystem::path only_job(const std::filesystem::path& workspace);

/// Waits for `file` to hold a line (a port) while `process` runs; returns it.
std::string wait_for_line(const std::filesystem::path& file, process::ChildProcess& process,
                          std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace cohort::test
