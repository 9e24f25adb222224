#pragma once
// Samples a process's memory into its memory/<process>.csv and reacts to system RAM pressure:
// a warning at warn_percent, an immediate cleanup at critical_percent (each at most once
// per `cooldown`, so that a machine that stays full is not cleaned in a loop).

#include "jobs/job_files.hpp"

#include "memory/memory.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>

namespace spdlog {
class logger;
}

namespace cohort::hooks {

struct MonitorSettings {
  std::chrono::milliseconds interval{1000};
  double warn_percent = 85;
  double critical_percent = 90;
  bool cuda_empty_cache = false;
  std::chrono::milliseconds cooldown{30000};
};

class MemoryMonitor {
 public:
  MemoryMonitor(const std::filesystem::path& csv, MonitorSettings settings, std::shared_ptr<spdlog::logger> log);
  ~MemoryMonitor();

  /// Labels the following samples with `round` and takes a sample now.
  void set_round(std::int64_t round);
  /// The largest RSS sampled so far.
  std::uint64_t max_rss_bytes() const { return sampler_->max_rss_bytes(); }
  /// How many emergency cleanups ran.
  int emergency_cleanups() const { return emergencies_.load(); }

 private:
  void on_sample(const memory::Sample& sample);

  MonitorSettings settings_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<std::int64_t> last_warning_ms_{-1};
  std::atomic<std::int64_t> last_cleanup_ms_{-1};
  std::atomic<int> emergencies_{0};
  jobs::MemoryWriter csv_;
  std::unique_ptr<memory::Sampler> sampler_;
};

}  // namespace cohort::hooks
