#include "hooks/memory_monitor.hpp"

#include <spdlog/logger.h>

namespace cohort::hooks {

MemoryMonitor::MemoryMonitor(const std::filesystem::path& csv, MonitorSettings settings,
                             std::shared_ptr<spdlog::logger> log)
    : settings_(settings), log_(std::move(log)), csv_(csv) {
  sampler_ = std::make_unique<memory::Sampler>(settings_.interval, [this](const memory::Sample& s) { on_sample(s); });
}

MemoryMonitor::~MemoryMonitor() { sampler_.reset(); }

void MemoryMonitor::set_round(std::int64_t round) {
  sampler_->set_round(round);
  sampler_->sample();
}

void MemoryMonitor::on_sample(const memory::Sample& s) {
  jobs::MemoryRow row;
  row.elapsed_s = s.elapsed_seconds;
  row.rss_mb = memory::mib(s.process.rss_bytes);
  row.peak_rss_mb = memory::mib(s.process.peak_rss_bytes);
  row.children_rss_mb = memory::mib(s.children_rss_bytes);
  row.alloc_live_mb = memory::mib(s.allocator.live_bytes);
  row.alloc_free_mb = memory::mib(s.allocator.free_bytes);
  if (s.tensor_bytes) row.tensor_mb = memory::mib(*s.tensor_bytes);
  row.sys_total_mb = memory::mib(s.system.total_bytes);
  row.sys_available_mb = memory::mib(s.system.available_bytes);
  row.sys_used_percent = s.system.used_percent;
  row.cpu_percent = s.cpu_percent;
  row.cleanups = s.cleanups;
  row.round = s.round;
  row.allocator = std::string(memory::to_string(s.allocator.allocator));
  csv_.append(row);

  const auto now_ms = static_cast<std::int64_t>(s.elapsed_seconds * 1000);
  auto cooled = [&](std::atomic<std::int64_t>& last) {
    std::int64_t previous = last.load();
    return (previous < 0 || now_ms - previous >= settings_.cooldown.count()) &&
           last.compare_exchange_strong(previous, now_ms);
  };
  const double percent = s.system.used_percent;
  if (percent >= settings_.critical_percent) {
    if (cooled(last_cleanup_ms_)) {
      log_->error("system RAM {:.1f}% used (critical at {:.0f}%): cleaning memory up now", percent,
                  settings_.critical_percent);
      memory::cleanup_memory(settings_.cuda_empty_cache, log_.get());
      ++emergencies_;
    }
  } else if (percent >= settings_.warn_percent && cooled(last_warning_ms_)) {
    log_->warn("system RAM {:.1f}% used (warning at {:.0f}%); this process holds {:.1f} MiB", percent,
               settings_.warn_percent, memory::mib(s.process.rss_bytes));
  }
}

}  // namespace cohort::hooks
