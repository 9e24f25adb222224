// Allocator detection, trimming, purging and statistics.
#include "memory/memory.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace cohort::memory {

namespace {

using MallctlFn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
using MallocTrimFn = int (*)(std::size_t);

// jemalloc's arena index meaning "all arenas" (MALLCTL_ARENAS_ALL).
constexpr const char* kPurgeAllArenas = "arena.4096.purge";

struct Detected {
  Allocator allocator = Allocator::unknown;
  MallctlFn mallctl = nullptr;
  MallocTrimFn malloc_trim = nullptr;
};

const Detected& detected() {
  static const Detected d = [] {
    Detected out;
    // glibc exports malloc_trim even when jemalloc is preloaded, so jemalloc is checked
    // first: if mallctl resolves, jemalloc serves malloc.
    if (void* sym = dlsym(RTLD_DEFAULT, "mallctl")) {
      out.allocator = Allocator::jemalloc;
      out.mallctl = reinterpret_cast<MallctlFn>(sym);
    } else if (void* trim = dlsym(RTLD_DEFAULT, "malloc_trim")) {
      out.allocator = Allocator::glibc;
      out.malloc_trim = reinterpret_cast<MallocTrimFn>(trim);
    }
    return out;
  }();
  return d;
}

template <class T>
bool read_mallctl(const char* name, T& value) {
  std::size_t size = sizeof(T);
  return detected().mallctl(name, &value, &size, nullptr, 0) == 0;
}

}  // namespace

Allocator allocator() { return detected().allocator; }

std::string_view to_string(Allocator a) {
  switch (a) {
    case Allocator::glibc: return "glibc";
    case Allocator::jemalloc: return "jemalloc";
    case Allocator::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<int> try_malloc_trim() {
  if (detected().allocator != Allocator::glibc) return std::nullopt;
  return detected().malloc_trim(0) ? 1 : 0;
}

bool purge_jemalloc_arenas() {
  const Detected& d = detected();
  if (d.allocator != Allocator::jemalloc) return false;
  d.mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  return d.mallctl(kPurgeAllArenas, nullptr, nullptr, nullptr, 0) == 0;
}

AllocatorStats allocator_stats() {
  AllocatorStats stats;
  stats.allocator = allocator();
  if (stats.allocator == Allocator::glibc) {
    // mallinfo2 sums every arena; in-use chunks and mmapped blocks are live memory, free
    // chunks are what the allocator keeps without returning it to the OS.
    struct mallinfo2 info = mallinfo2();
    stats.live_bytes = info.uordblks + info.hblkhd;
    stats.free_bytes = info.fordblks;
    stats.available = true;
  } else if (stats.allocator == Allocator::jemalloc) {
    std::uint64_t epoch = 1;
    std::size_t size = sizeof(epoch);
    detected().mallctl("epoch", &epoch, &size, &epoch, size);
    std::size_t allocated = 0, resident = 0;
    if (read_mallctl("stats.allocated", allocated) && read_mallctl("stats.resident", resident)) {
      stats.live_bytes = allocated;
      stats.free_bytes = resident > allocated ? resident - allocated : 0;
      stats.available = true;
    }
  }
  return stats;
}

}  // namespace cohort::memory
