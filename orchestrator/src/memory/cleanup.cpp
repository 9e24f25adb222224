// cleanup_memory(): caches, then the allocator, then CUDA.
#include "memory/memory.hpp"

#include <spdlog/logger.h>

#include <dlfcn.h>

#include <atomic>
#include <map>
#include <mutex>

namespace cohort::memory {

namespace {

struct CacheTable {
  std::mutex mutex;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::pair<std::string, std::function<void()>>> caches;
};

CacheTable& caches() {
  static CacheTable table;
  return table;
}

// libtorch's CUDA caching allocator, when a CUDA build of libtorch is loaded. Looked up at
// run time so that cohort builds and runs against the CPU-only libtorch too.
using EmptyCacheFn = void (*)();
EmptyCacheFn cuda_empty_cache_function() {
  static const EmptyCacheFn fn = [] {
    void* sym = dlsym(RTLD_DEFAULT, "_ZN3c104cuda20CUDACachingAllocator10emptyCacheEv");
    return reinterpret_cast<EmptyCacheFn>(sym);
  }();
  return fn;
}

std::atomic<std::uint64_t> cleanups{0};

}  // namespace

std::uint64_t cleanups_run() { return cleanups.load(); }

CacheRegistration::CacheRegistration(CacheRegistration&& other) noexcept : id_(other.id_) {
  other.id_ = 0;
}
CacheRegistration& CacheRegistration::operator=(CacheRegistration&& other) noexcept {
  if (this != &other) {
    this->~CacheRegistration();
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}
CacheRegistration::~CacheRegistration() {
  if (id_ == 0) return;
  std::lock_guard lock(caches().mutex);
  caches().caches.erase(id_);
  id_ = 0;
}

CacheRegistration register_cache(std::string name, std::function<void()> release) {
  auto& table = caches();
  std::lock_guard lock(table.mutex);
  const std::uint64_t id = table.next_id++;
  table.caches.emplace(id, std::make_pair(std::move(name), std::move(release)));
  return CacheRegistration(id);
}

CleanupReport cleanup_memory(bool cuda_empty_cache, spdlog::logger* log) {
  CleanupReport report;
  const auto start = std::chrono::steady_clock::now();
  report.allocator = allocator();
  report.rss_before = process_memory().rss_bytes;
  report.free_before = allocator_stats().free_bytes;

  {
    auto& table = caches();
    std::lock_guard lock(table.mutex);
    for (auto& [id, entry] : table.caches) {
      entry.second();
      ++report.caches_released;
    }
  }
  report.trimmed = try_malloc_trim();
  report.purged = purge_jemalloc_arenas();
  if (cuda_empty_cache) {
    if (EmptyCacheFn fn = cuda_empty_cache_function()) {
      fn();
      report.cuda_emptied = true;
    } else if (log) {
      log->info("memory cleanup: CUDA cache not emptied: no CUDA build of libtorch is loaded");
    }
  }

  ++cleanups;
  report.rss_after = process_memory().rss_bytes;
  report.free_after = allocator_stats().free_bytes;
  report.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  if (log) {
    log->info(
        "memory cleanup ({}): rss {:.1f} -> {:.1f} MiB, allocator free {:.1f} -> {:.1f} MiB, "
        "{} caches, trim {}, purge {}, {:.2f} ms",
        to_string(report.allocator), mib(report.rss_before), mib(report.rss_after),
        mib(report.free_before), mib(report.free_after), report.caches_released,
        report.trimmed ? std::to_string(*report.trimmed) : std::string("none"),
        report.purged ? "yes" : "no", report.duration.count() / 1000.0);
  }
  return report;
}

}  // namespace cohort::memory
