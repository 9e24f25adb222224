// Live CPU tensor bytes: libtorch's CPU allocator wrapped by one that counts.
//
// RSS says how much memory a process holds; it cannot say whether that is tensors kept
// alive by a forgotten reference or memory the allocator keeps after they died. Counting
// tensor storage at the allocator tells the two apart.
#include "memory/memory.hpp"

#include <c10/core/CPUAllocator.h>

#include <atomic>
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
      a.live -= it->second;
      a.sizes.erase(it);
    }
  }
  a.base_deleter(data);
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(std::size_t bytes) const override {
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
  });
}

std::optional<std::uint64_t> tensor_bytes() {
  if (!accounting().enabled) return std::nullopt;
  return accounting().live.load();
}

}  // namespace cohort::memory
