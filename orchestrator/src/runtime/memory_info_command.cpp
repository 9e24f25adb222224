// cohort memory-info: memory figures of this machine, or of a job's processes.
#include "runtime/commands.hpp"
#include "process/launch.hpp"
#include "process/runtime_commands.hpp"

#include "process/role_environment.hpp"

#include "memory/memory.hpp"

#include <cohort/error.hpp>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace cohort::runtime {

namespace {

constexpr double MiB = 1024.0 * 1024.0;

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream s(line);
  std::string cell;
  while (std::getline(s, cell, sep)) out.push_back(cell);
  return out;
}

/// The role ("server", "client"; "" for another command) of a cohort process's command
/// line, and its name (--process-name, else its kit), read as the runtime read them.
std::pair<std::string, std::string> process_role(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const auto& a : argv) pointers.push_back(const_cast<char*>(a.c_str()));
  const int at = process::subcommand_index(static_cast<int>(pointers.size()), pointers.data());
  if (at == 0) return {};
  const std::string role = argv[at];
  const std::vector<std::string> args(argv.begin() + at + 1, argv.end());
  auto named = [&](const auto& launch) {
    return std::make_pair(role, launch->kit.empty() ? launch->process.process_name : launch->kit);
  };
  if (role == "server") {
    if (auto launch = process::parse_arguments<process::ServerLaunch>(args)) return named(launch);
  } else if (role == "client") {
    if (auto launch = process::parse_arguments<process::ClientLaunch>(args)) return named(launch);
  }
  return {role == "server" || role == "client" ? role : "", ""};
}

/// Name and RSS of the cohort server and client processes running now.
void print_cohort_processes() {
  bool any = false;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(e.path() / "cmdline");
    std::string raw((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    const auto args = split(raw, '\0');
    if (args.empty() || (fs::path(args[0]).filename() != "cohort" && fs::path(args[0]).filename() != "cohort-runtime"))
      continue;
    const auto [role, name] = process_role(args);
    if (role.empty()) continue;
    std::ifstream status(e.path() / "status");
    std::string line, rss, hwm;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) rss = line.substr(6);
      if (line.rfind("VmHWM:", 0) == 0) hwm = line.substr(6);
    }
    if (!any) std::cout << "\ncohort processes:\n";
    any = true;
    std::cout << "  pid " << std::setw(7) << pid << "  " << std::setw(6) << role << "  " << std::setw(10)
              << (name.empty() ? role : name) << "  rss" << rss << "  peak" << hwm << "\n";
  }
  if (!any) std::cout << "\nno cohort server or client process is running\n";
}

void print_machine() {
  const auto sys = memory::system_memory();
  std::cout << std::fixed << std::setprecision(1) << "machine: " << sys.total_bytes / MiB / 1024 << " GiB RAM, "
            << sys.available_bytes / MiB / 1024 << " GiB available (" << sys.used_percent << "% used), "
            << std::thread::hardware_concurrency() << " CPUs\n";
  const char* arena = std::getenv("MALLOC_ARENA_MAX");
  std::cout << "allocator of processes started from this shell: " << memory::to_string(memory::allocator())
            << ", MALLOC_ARENA_MAX " << (arena ? arena : "unset") << "\n";
  auto jemalloc = process::find_jemalloc();
  std::cout << "jemalloc: " << (jemalloc ? *jemalloc + " (preloaded when COHORT_ENABLE_JEMALLOC_PRELOAD=true)" : "not installed")
            << "\n";
  const auto policy = memory::memory_policy();
  std::cout << "transparent huge pages: "
            << (policy.transparent_huge_pages.empty() ? "not offered" : policy.transparent_huge_pages)
            << (policy.transparent_huge_pages == "madvise" || policy.transparent_huge_pages == "always"
                    ? " (models arriving and sums ask for them)"
                    : "")
            << "\n";
  std::cout << "free page reporting: "
            << (policy.host_reclaims_free_memory
                    ? "on (a virtio balloon hands memory freed for a second or two back to the host, and touching it "
                      "again is slow: reuse_model_memory = true keeps model memory from round to round)"
                    : "off")
            << "\n";
  print_cohort_processes();
}

/// The newest job under a workspace, or `path` itself when it is a job folder.
fs::path job_folder(const fs::path& path) {
  if (fs::exists(path / "memory")) return path;
  fs::path newest;
  fs::file_time_type newest_time{};
  for (const auto& e : fs::directory_iterator(path / "jobs")) {
    if (e.last_write_time() > newest_time) {
      newest = e.path();
      newest_time = e.last_write_time();
    }
  }
  if (newest.empty()) throw IoError(path, "holds no job");
  return newest;
}

void print_job(const fs::path& given) {
  const fs::path job = job_folder(given);
  std::cout << "job " << job.filename().string() << " (" << job.string() << ")\n"
            << std::left << std::setw(12) << "process" << std::right << std::setw(10) << "rss MB" << std::setw(10)
            << "peak MB" << std::setw(11) << "alloc live" << std::setw(11) << "alloc free" << std::setw(11)
            << "tensors MB" << std::setw(9) << "cleanups" << std::setw(7) << "round" << std::setw(10) << "age s\n";
  for (const auto& e : fs::directory_iterator(job / "memory")) {
    std::ifstream in(e.path());
    std::string line, last;
    while (std::getline(in, line)) last = line;
    auto c = split(last, ',');
    if (c.size() < 12) continue;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(fs::file_time_type::clock::now() -
                                                                      fs::last_write_time(e.path()))
                         .count();
    std::cout << std::left << std::setw(12) << e.path().stem().string() << std::right << std::setw(10) << c[1]
              << std::setw(10) << c[2] << std::setw(11) << c[3] << std::setw(11) << c[4] << std::setw(11)
              << (c[5].empty() ? "-" : c[5]) << std::setw(9) << c[10] << std::setw(7) << c[11] << std::setw(9) << age
              << "\n";
  }
}

}  // namespace

void add_memory_info_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("memory-info", process::runtime_command_description("memory-info"));
  auto job = std::make_shared<std::string>();
  cmd->add_option("--job", *job, "A job folder, or a workspace (its newest job)")->check(process::existing_folder());
  cmd->callback([&run, job] {
    run = [job] {
      if (job->empty()) print_machine();
      else print_job(*job);
      return process::kExitOk;
    };
  });
}

}  // namespace cohort::runtime
