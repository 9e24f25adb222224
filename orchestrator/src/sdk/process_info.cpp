// What this process and the machine use, from /proc.
#include <cohort/memory.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace cohort::memory {

namespace {

// Value in kB of the line "<key>: <n> kB" of a /proc file, in bytes.
std::uint64_t proc_kib(const char* file, std::string_view key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ':') {
      std::istringstream fields(line.substr(key.size() + 1));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

ProcessMemory process_memory() {
  return ProcessMemory{proc_kib("/proc/self/status", "VmRSS"), proc_kib("/proc/self/status", "VmHWM")};
}

std::uint64_t children_rss_bytes() {
  // Every process's parent, from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may
  // hold spaces and parentheses, so the fields after the last ')' are read).
  std::multimap<pid_t, pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    pid_t parent = 0;
    if (fields >> state >> parent) children.emplace(parent, static_cast<pid_t>(std::stol(name)));
  }
  std::uint64_t total = 0;
  std::vector<pid_t> pending{::getpid()};
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    auto [begin, end] = children.equal_range(pid);
    for (auto it = begin; it != end; ++it) {
      total += proc_kib(("/proc/" + std::to_string(it->second) + "/status").c_str(), "VmRSS");
      pending.push_back(it->second);
    }
  }
  return total;
}

void advise_huge_pages(void* data, std::size_t bytes) {
  constexpr std::uintptr_t huge = 2u << 20;
  if (bytes < 2 * huge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) & ~(huge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(huge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

SystemMemory system_memory() {
  SystemMemory m;
  m.total_bytes = proc_kib("/proc/meminfo", "MemTotal");
  m.available_bytes = proc_kib("/proc/meminfo", "MemAvailable");
  if (m.total_bytes > 0)
    m.used_percent = 100.0 * static_cast<double>(m.total_bytes - m.available_bytes) /
                     static_cast<double>(m.total_bytes);
  return m;
}

CpuMeter::CpuMeter() : last_cpu_seconds_(cpu_seconds()), last_wall_(std::chrono::steady_clock::now()) {}

double CpuMeter::percent() {
  const double cpu = cpu_seconds();
  const auto now = std::chrono::steady_clock::now();
  const double wall = std::chrono::duration<double>(now - last_wall_).count();
  const double result = wall > 0 ? 100.0 * (cpu - last_cpu_seconds_) / wall : 0.0;
  last_cpu_seconds_ = cpu;
  last_wall_ = now;
  return result;
}

}  // namespace cohort::memory
