// Live CPU tensor bytes: libtorch's CPU allocator wrapped by one that counts, and, with
// model memory reuse on, keeps the blocks of dead model-sized tensors for the next ones.
//
// RSS says how much memory a process holds; it cannot say whether that is tensors kept
// alive by a forgotten reference or memory the allocator keeps after they died. Counting
// tensor storage at the allocator tells the two apart.
//
// Reuse: glibc hands blocks this large out by mmap and returns them by munmap, so every
// model a round receives or sums lands in fresh pages the kernel must fault in and zero
// (on some virtual machines 15 µs a 4 KiB page: 4 s a GiB). A block kept and handed to the
// next tensor of the same byte size is already resident.
#include "memory/memory.hpp"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

namespace cohort::memory {

namespace {

struct Accounting {
  std::mutex mutex;
  std::unordered_map<void*, std::size_t> sizes;
  std::atomic<std::uint64_t> live{0};
  c10::DeleterFnPtr base_deleter = nullptr;
  std::atomic<bool> enabled{false};
  /// Model memory reuse: dead blocks by byte size, their total, and its bound. `reuse` is
  /// set under the mutex; read without it, it spares allocations the lock while off.
  std::atomic<bool> reuse{false};
  std::multimap<std::size_t, void*> kept;
  std::uint64_t kept_bytes = 0;
  std::uint64_t keep_at_most = 0;
};

Accounting& accounting() {
  static Accounting* a = new Accounting;  // never destroyed: tensors may die after main
  return *a;
}

void counting_delete(void* data) {
  auto& a = accounting();
  {
    std::lock_guard lock(a.mutex);
    auto it = a.sizes.find(data);
    if (it != a.sizes.end()) {
      const std::size_t bytes = it->second;
      a.live -= bytes;
      a.sizes.erase(it);
      if (a.reuse && bytes >= kReusedBlockBytes && a.kept_bytes + bytes <= a.keep_at_most) {
        a.kept.emplace(bytes, data);
        a.kept_bytes += bytes;
        return;
      }
    }
  }
  a.base_deleter(data);
}

/// A kept block of exactly `bytes`, counted live again; null when none.
void* take_kept(std::size_t bytes) {
  auto& a = accounting();
  if (bytes < kReusedBlockBytes || !a.reuse) return nullptr;
  std::lock_guard lock(a.mutex);
  auto it = a.kept.find(bytes);
  if (it == a.kept.end()) return nullptr;
  void* data = it->second;
  a.kept.erase(it);
  a.kept_bytes -= bytes;
  a.sizes[data] = bytes;
  a.live += bytes;
  return data;
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(std::size_t bytes) const override {
    if (void* kept = take_kept(bytes)) return {kept, kept, &counting_delete, c10::Device(c10::DeviceType::CPU)};
    c10::DataPtr inner = base_->allocate(bytes);
    void* data = inner.get();
    auto& a = accounting();
    // Only the default layout (context == data, the base's raw deleter) can be re-wrapped
    // without a second allocation; anything else passes through uncounted.
    if (!data || inner.get_context() != data || inner.get_deleter() != a.base_deleter) return inner;
    const c10::Device device = inner.device();
    inner.release_context();
    {
      std::lock_guard lock(a.mutex);
      a.sizes[data] = bytes;
    }
    a.live += bytes;
    return {data, data, &counting_delete, device};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &counting_delete; }

 private:
  c10::Allocator* base_;
};

}  // namespace

void enable_tensor_accounting() {
  static std::once_flag once;
  std::call_once(once, [] {
    c10::Allocator* base = c10::GetCPUAllocator();
    accounting().base_deleter = base->raw_deleter();
    if (!accounting().base_deleter) return;  // an allocator we cannot wrap: stay disabled
    static CountingAllocator counting(base);
    c10::SetCPUAllocator(&counting, /*priority=*/100);
    accounting().enabled = true;
    const char* reuse = std::getenv(kReuseModelMemoryVariable);
    if (reuse && std::string(reuse) == "true") set_model_memory_reuse(true);
  });
}

std::optional<std::uint64_t> tensor_bytes() {
  if (!accounting().enabled) return std::nullopt;
  return accounting().live.load();
}

void set_model_memory_reuse(bool on) {
  auto& a = accounting();
  std::multimap<std::size_t, void*> dropped;
  {
    std::lock_guard lock(a.mutex);
    a.reuse = on && a.enabled;
    if (!a.reuse) {
      dropped.swap(a.kept);
      a.kept_bytes = 0;
    }
  }
  for (const auto& [bytes, data] : dropped) a.base_deleter(data);
}

bool model_memory_reuse() {
  auto& a = accounting();
  return a.reuse;
}

void note_model_bytes(std::uint64_t bytes) {
  auto& a = accounting();
  std::lock_guard lock(a.mutex);
  a.keep_at_most = std::max(a.keep_at_most, bytes);
}

std::uint64_t kept_model_bytes() {
  auto& a = accounting();
  std::lock_guard lock(a.mutex);
  return a.kept_bytes;
}

}  // namespace cohort::memory
