// What this process and the machine use, from /proc.
#include "memory/memory.hpp"

#include <sys/mman.h>
#include <unistd.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
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

std::vector<int> descendant_pids() {
  std::vector<int> found;
  std::vector<std::string> pending{"self"};
  std::error_code ec;
  while (!pending.empty()) {
    const std::string pid = pending.back();
    pending.pop_back();
    // Each thread lists the children it started.
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
      std::ifstream children(task.path() / "children");
      int child = 0;
      while (children >> child) {
        found.push_back(child);
        pending.push_back(std::to_string(child));
      }
    }
  }
  return found;
}

std::uint64_t children_rss_bytes() {
  std::uint64_t total = 0;
  for (int pid : descendant_pids()) total += proc_kib(("/proc/" + std::to_string(pid) + "/status").c_str(), "VmRSS");
  return total;
}

void prepare_for_filling(void* data, std::size_t bytes) {
  constexpr std::uintptr_t huge = 2u << 20;
  if (bytes < 2 * huge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) & ~(huge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(huge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<std::uintptr_t>(data) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(first), reinterpret_cast<std::uintptr_t>(data) + bytes - first, MADV_POPULATE_WRITE);
}

MemoryPolicy memory_policy(const std::filesystem::path& sysfs) {
  MemoryPolicy policy;
  std::ifstream huge(sysfs / "kernel/mm/transparent_hugepage/enabled");  // "always [madvise] never"
  std::string modes;
  std::getline(huge, modes);
  const auto open = modes.find('['), close = modes.find(']');
  if (open != std::string::npos && close > open) policy.transparent_huge_pages = modes.substr(open + 1, close - open - 1);
  constexpr std::string_view kBalloonDevice = "0x0005";
  constexpr std::size_t kReportingFeatureBit = 5;
  std::error_code ec;
  for (const auto& device : std::filesystem::directory_iterator(sysfs / "bus/virtio/devices", ec)) {
    std::ifstream id_file(device.path() / "device"), features_file(device.path() / "features");
    std::string id, features;  // features: one '0' or '1' per feature bit, bit 0 first
    id_file >> id;
    features_file >> features;
    if (id == kBalloonDevice && features.size() > kReportingFeatureBit && features[kReportingFeatureBit] == '1')
      policy.host_reclaims_free_memory = true;
  }
  return policy;
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
