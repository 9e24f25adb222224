#pragma once
/// @file memory.hpp
/// The memory toolkit: which allocator runs this process, how to make it give memory
/// back, how much the process and the machine use, and a sampler that records it.

#include <cohort/export.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::memory {

/// `bytes` in MiB, as the logs and the job's files give memory.
inline double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

/// The malloc implementation serving this process.
enum class Allocator { glibc, jemalloc, unknown };

/// Detects the allocator at first call (jemalloc when `mallctl` resolves, else glibc when
/// `malloc_trim` does, else unknown) and returns the cached answer afterwards.
COHORT_API Allocator allocator();
/// "glibc", "jemalloc" or "unknown".
COHORT_API std::string_view to_string(Allocator allocator);

/// glibc's malloc_trim(0): 1 when memory was returned to the OS, 0 when there was none to
/// return, nothing when the allocator is not glibc.
COHORT_API std::optional<int> try_malloc_trim();

/// Asks jemalloc to purge the dirty pages of every arena (and flush this thread's cache).
/// False when the allocator is not jemalloc or the purge failed.
COHORT_API bool purge_jemalloc_arenas();

/// A cache that cleanup_memory() empties before it trims. The registration lasts as long
/// as the returned handle.
class COHORT_API CacheRegistration {
 public:
  CacheRegistration() = default;
  CacheRegistration(CacheRegistration&&) noexcept;
  CacheRegistration& operator=(CacheRegistration&&) noexcept;
  CacheRegistration(const CacheRegistration&) = delete;
  CacheRegistration& operator=(const CacheRegistration&) = delete;
  ~CacheRegistration();

 private:
  friend COHORT_API CacheRegistration register_cache(std::string, std::function<void()>);
  explicit CacheRegistration(std::uint64_t id) : id_(id) {}
  std::uint64_t id_ = 0;
};

/// Registers `release` (which drops `name`'s cached memory) with cleanup_memory().
COHORT_API CacheRegistration register_cache(std::string name, std::function<void()> release);

/// Resident memory of this process.
struct ProcessMemory {
  std::uint64_t rss_bytes = 0;
  /// High-water mark of rss_bytes since the process started (VmHWM).
  std::uint64_t peak_rss_bytes = 0;
};
/// Reads /proc/self/status.
COHORT_API ProcessMemory process_memory();
/// The processes this one started, and theirs (from /proc/PID/task/TID/children).
COHORT_API std::vector<int> descendant_pids();
/// Resident memory of descendant_pids() (e.g. a site's Python script); shared memory that
/// they and this process both map counts in both.
COHORT_API std::uint64_t children_rss_bytes();
/// Resets peak_rss_bytes to the current RSS (Linux /proc/self/clear_refs), so that the peak
/// of one phase (a round) can be measured. False when the kernel refuses.
COHORT_API bool reset_peak_rss();

/// Memory of the machine.
struct SystemMemory {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;
  /// Percent in use: 100 * (total - available) / total.
  double used_percent = 0;
};
/// Reads /proc/meminfo.
COHORT_API SystemMemory system_memory();

/// How the kernel and the hypervisor treat this machine's memory (read from sysfs; `sysfs`
/// is "/sys" but for tests).
struct MemoryPolicy {
  /// Transparent huge pages: "always", "madvise" (cohort asks for them for model memory),
  /// "never"; "" when the kernel does not say.
  std::string transparent_huge_pages;
  /// A virtio balloon that reports free pages to the host (VIRTIO_BALLOON_F_REPORTING):
  /// memory freed for a second or two goes back to the host, which must back it anew when
  /// it is next touched, many times slower than memory freed a moment before. A model
  /// landing in fresh memory each round pays that; reuse_model_memory keeps it.
  bool host_reclaims_free_memory = false;
};
COHORT_API MemoryPolicy memory_policy(const std::filesystem::path& sysfs = "/sys");

/// What the allocator holds: bytes handed out to the program (live) apart from bytes it
/// keeps free for reuse without returning them to the OS (fragmentation, caches).
struct AllocatorStats {
  Allocator allocator = Allocator::unknown;
  std::uint64_t live_bytes = 0;
  std::uint64_t free_bytes = 0;
  /// False when the allocator offers no statistics.
  bool available = false;
};
/// glibc: mallinfo2 (live = in-use + mmapped, free = free chunks); jemalloc: stats.*
/// (live = allocated, free = resident - allocated).
COHORT_API AllocatorStats allocator_stats();

/// CPU time of this process as a percent of one core, between successive calls.
class COHORT_API CpuMeter {
 public:
  CpuMeter();
  /// Percent since construction or the previous call.
  double percent();

 private:
  double last_cpu_seconds_;
  std::chrono::steady_clock::time_point last_wall_;
};

/// Readies fresh memory that is about to be filled whole (a model arriving from the
/// network, an accumulator): the 2 MiB-aligned part is backed by transparent huge pages
/// (madvise MADV_HUGEPAGE: 512 times fewer page faults), then every page is made resident
/// in one call (MADV_POPULATE_WRITE), so that the kernel zeroes them here rather than one
/// fault at a time inside the recv() that fills them, with the socket locked against the
/// sender. It only brings forward what the filling would do a moment later: no memory
/// beyond the tensor's own. A no-op for less than 4 MiB; each step is skipped where the
/// kernel says no.
COHORT_API void prepare_for_filling(void* data, std::size_t bytes);

/// Starts counting the bytes of live CPU tensors (wraps libtorch's CPU allocator; tensors
/// allocated before the call are not counted). Idempotent. Server and client processes
/// call it at start.
COHORT_API void enable_tensor_accounting();
/// Bytes of CPU tensor storage alive now (since enable_tensor_accounting()); nothing when
/// accounting is off.
COHORT_API std::optional<std::uint64_t> tensor_bytes();

/// Model memory reuse (`reuse_model_memory`): the environment variable that turns it on in
/// a server or client process ("true"; read by enable_tensor_accounting()).
inline constexpr const char* kReuseModelMemoryVariable = "COHORT_REUSE_MODEL_MEMORY";
/// Tensor storage blocks this large or larger are the ones kept.
inline constexpr std::size_t kReusedBlockBytes = std::size_t{1} << 20;
/// With reuse on (and accounting enabled), the storage of a dead tensor of at least
/// kReusedBlockBytes is kept, resident, and handed to the next tensor of the same byte size
/// (a round's model lands in the pages the last round's did), up to the largest model
/// passed to note_model_bytes() in all: one model of resident memory between rounds. Off
/// frees what is kept.
COHORT_API void set_model_memory_reuse(bool on);
COHORT_API bool model_memory_reuse();
/// A model of `bytes` passes through this process (received, summed): the bound of what
/// reuse keeps is the largest such model.
COHORT_API void note_model_bytes(std::uint64_t bytes);
/// Bytes kept for reuse now.
COHORT_API std::uint64_t kept_model_bytes();

/// How many cleanups cleanup_memory() ran in this process.
COHORT_API std::uint64_t cleanups_run();

/// What cleanup_memory() did.
struct CleanupReport {
  Allocator allocator = Allocator::unknown;
  std::uint64_t rss_before = 0;
  std::uint64_t rss_after = 0;
  std::uint64_t free_before = 0;
  std::uint64_t free_after = 0;
  std::chrono::microseconds duration{0};
  std::size_t caches_released = 0;
  /// try_malloc_trim()'s answer (glibc only).
  std::optional<int> trimmed;
  /// True when jemalloc's arenas were purged.
  bool purged = false;
  /// True when the CUDA cache was emptied; false when not asked or unavailable.
  bool cuda_emptied = false;
};

/// Allocator-aware cleanup: releases registered caches, then malloc_trim(0) on glibc or an
/// arena purge on jemalloc, then empties the CUDA caching allocator when asked and when a
/// CUDA build of libtorch is loaded (a logged no-op otherwise). Logs what it freed when
/// `log` is given.
COHORT_API CleanupReport cleanup_memory(bool cuda_empty_cache, spdlog::logger* log = nullptr);

/// One row of a memory time series.
struct Sample {
  double elapsed_seconds = 0;
  ProcessMemory process;
  /// children_rss_bytes() at the time of the sample.
  std::uint64_t children_rss_bytes = 0;
  AllocatorStats allocator;
  SystemMemory system;
  double cpu_percent = 0;
  /// Live CPU tensor bytes, when accounting is on.
  std::optional<std::uint64_t> tensor_bytes;
  /// cleanups_run() at the time of the sample.
  std::uint64_t cleanups = 0;
  std::int64_t round = -1;
};
/// Takes one sample now (cpu from `cpu`).
COHORT_API Sample sample_now(CpuMeter& cpu);

/// A thread that takes a Sample every `interval` (and one when it stops) and hands each to
/// `on_sample`, one at a time, in order. What becomes of them (a job's memory/<process>.csv,
/// RAM alarms) is the caller's.
class COHORT_API Sampler {
 public:
  Sampler(std::chrono::milliseconds interval, std::function<void(const Sample&)> on_sample);
  /// Stops the thread after a last sample.
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// Labels the following samples with `round`.
  void set_round(std::int64_t round);
  /// Takes a sample at once (besides the periodic ones).
  void sample();
  /// The largest RSS seen so far.
  std::uint64_t max_rss_bytes() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cohort::memory
