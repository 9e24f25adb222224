#include "memory/memory.hpp"

#include "support/sanitizers.hpp"
#include "support/temp_dir.hpp"

#include <ATen/ops/empty.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

namespace memory = cohort::memory;

namespace {

std::string expected_allocator() {
  const char* v = std::getenv("COHORT_EXPECT_ALLOCATOR");
  return v ? v : "glibc";
}

bool under_jemalloc() { return expected_allocator() == "jemalloc"; }

constexpr std::uint64_t MiB = 1024 * 1024;

}  // namespace

TEST_SUITE("memory") {
  TEST_CASE("memory: the allocator is detected and cached" * doctest::skip(under_jemalloc())) {
    CHECK(memory::allocator() == memory::Allocator::glibc);
    CHECK(memory::to_string(memory::allocator()) == "glibc");
    CHECK(memory::allocator() == memory::allocator());
  }

  TEST_CASE("memory: malloc_trim answers 0 or 1 on glibc, no jemalloc purge" * doctest::skip(under_jemalloc())) {
    auto trimmed = memory::try_malloc_trim();
    REQUIRE(trimmed.has_value());
    CHECK((*trimmed == 0 || *trimmed == 1));
    CHECK_FALSE(memory::purge_jemalloc_arenas());
  }

  TEST_CASE("memory: RSS falls after freeing many small blocks and trimming" *
            doctest::skip(under_jemalloc() || cohort::test::kSanitizerAllocator)) {
    // 256 MiB in 1 KiB blocks; keeping every 512th block alive pins the heap's top, so
    // free() alone cannot shrink it: the memory stays resident until malloc_trim.
    std::vector<void*> blocks(256 * 1024);
    for (auto& b : blocks) {
      b = std::malloc(1000);
      std::memset(b, 1, 1000);
    }
    const auto full = memory::process_memory().rss_bytes;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 512 != 511) {
        std::free(blocks[i]);
        blocks[i] = nullptr;
      }
    }
    const auto after_free = memory::process_memory().rss_bytes;
    const auto stats = memory::allocator_stats();
    CHECK(stats.available);
    CHECK(stats.free_bytes > 200 * MiB);  // fragmentation: free bytes the allocator holds
    const auto report = memory::cleanup_memory(false);
    const auto after_trim = memory::process_memory().rss_bytes;
    MESSAGE("rss full " << full / MiB << " MiB, after free " << after_free / MiB << " MiB, after trim "
                        << after_trim / MiB << " MiB");
    CHECK(after_free > after_trim + 150 * MiB);
    CHECK((report.trimmed == std::optional<int>(1)));
    CHECK(report.rss_before > report.rss_after);
    for (auto* b : blocks) std::free(b);
  }

  TEST_CASE("memory: registered caches are released by cleanup, until unregistered") {
    int released = 0;
    {
      auto registration = memory::register_cache("test", [&] { ++released; });
      memory::cleanup_memory(false);
      CHECK(released == 1);
    }
    memory::cleanup_memory(false);
    CHECK(released == 1);
  }

  TEST_CASE("memory: CUDA cleanup is a no-op without a CUDA build") {
    CHECK_FALSE(memory::cleanup_memory(true).cuda_emptied);
  }

  TEST_CASE("memory: the huge page mode and a balloon that reports free pages are read from sysfs") {
    cohort::test::TempDir sysfs;
    auto write = [&](const std::filesystem::path& file, const std::string& text) {
      std::filesystem::create_directories((sysfs.path() / file).parent_path());
      std::ofstream(sysfs.path() / file) << text;
    };
    CHECK(memory::memory_policy(sysfs.path()).transparent_huge_pages.empty());
    CHECK_FALSE(memory::memory_policy(sysfs.path()).host_reclaims_free_memory);
    write("kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
    // A network device with bit 5 set, and a balloon without it: neither reports free pages.
    write("bus/virtio/devices/virtio0/device", "0x0001\n");
    write("bus/virtio/devices/virtio0/features", "0000010000\n");
    write("bus/virtio/devices/virtio1/device", "0x0005\n");
    write("bus/virtio/devices/virtio1/features", "0110000000\n");
    auto policy = memory::memory_policy(sysfs.path());
    CHECK(policy.transparent_huge_pages == "madvise");
    CHECK_FALSE(policy.host_reclaims_free_memory);
    write("bus/virtio/devices/virtio1/features", "0110010100\n");
    CHECK(memory::memory_policy(sysfs.path()).host_reclaims_free_memory);
  }

  TEST_CASE("memory: process and system figures are plausible") {
    const auto p = memory::process_memory();
    CHECK(p.rss_bytes > 1 * MiB);
    CHECK(p.peak_rss_bytes >= p.rss_bytes);
    const auto s = memory::system_memory();
    CHECK(s.total_bytes > s.available_bytes);
    CHECK(s.used_percent > 0);
    CHECK(s.used_percent < 100);
  }

  TEST_CASE("memory: the RSS of the processes this one started is counted, with theirs") {
    const auto before = memory::children_rss_bytes();
    // A shell that starts a sleep: a child and a grandchild.
    FILE* pipe = ::popen("sleep 3 & echo started; wait", "r");
    REQUIRE(pipe);
    char line[32];
    REQUIRE(std::fgets(line, sizeof line, pipe));
    const auto during = memory::children_rss_bytes();
    ::pclose(pipe);
    CHECK(during > before + 512 * 1024);  // a shell and a sleep hold some hundreds of KiB each
    CHECK(memory::children_rss_bytes() == before);
  }

  TEST_CASE("memory: the CPU meter tells a busy process from a sleeping one") {
    // Shares of a core depend on what else the machine runs: only the contrast is tested.
    memory::CpuMeter meter;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    volatile double x = 0;
    while (std::chrono::steady_clock::now() < until) x = x + 1;
    const double busy = meter.percent();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const double idle = meter.percent();
    CHECK(busy > 5);
    CHECK(idle < busy);
    CHECK(idle < 5);
  }

  TEST_CASE("memory: the sampler hands over a time series with round labels, in order") {
    std::vector<memory::Sample> samples;
    {
      memory::Sampler sampler(std::chrono::milliseconds(20), [&](const memory::Sample& s) { samples.push_back(s); });
      sampler.set_round(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sampler.set_round(1);
      sampler.sample();
      CHECK(sampler.max_rss_bytes() > 0);
    }
    REQUIRE(samples.size() >= 4);
    for (std::size_t i = 1; i < samples.size(); ++i) CHECK(samples[i].elapsed_seconds >= samples[i - 1].elapsed_seconds);
    CHECK(samples.back().round == 1);
    CHECK(samples.back().allocator.allocator == memory::Allocator::glibc);
    CHECK(samples.back().process.rss_bytes > 0);
  }
}

TEST_SUITE("jemalloc") {
  TEST_CASE("memory under jemalloc: detected, purged, no trim" * doctest::skip(!under_jemalloc())) {
    CHECK(memory::allocator() == memory::Allocator::jemalloc);
    CHECK_FALSE(memory::try_malloc_trim().has_value());
    std::vector<void*> blocks(64 * 1024);
    for (auto& b : blocks) {
      b = std::malloc(1000);
      std::memset(b, 1, 1000);
    }
    for (auto* b : blocks) std::free(b);
    const auto before = memory::allocator_stats();
    CHECK(before.available);
    CHECK(memory::purge_jemalloc_arenas());
    const auto report = memory::cleanup_memory(false);
    CHECK(report.purged);
    CHECK_FALSE(report.trimmed.has_value());
    CHECK(memory::allocator_stats().free_bytes <= before.free_bytes);
  }
}

TEST_SUITE("tensor accounting") {
  TEST_CASE("memory: live tensor bytes follow tensors being made and dropped") {
    memory::enable_tensor_accounting();
    const auto before = memory::tensor_bytes();
    REQUIRE(before.has_value());
    {
      at::Tensor t = at::empty({2 * 1024 * 1024}, at::kFloat);  // 8 MiB
      CHECK(*memory::tensor_bytes() == *before + 8 * MiB);
      at::Tensor view = t.narrow(0, 0, 10);  // shares the storage: nothing new
      CHECK(*memory::tensor_bytes() == *before + 8 * MiB);
    }
    CHECK(*memory::tensor_bytes() == *before);
  }

  TEST_CASE("memory: with model memory reuse, a dead model-sized tensor's block goes to the next of its size, up to one model") {
    memory::enable_tensor_accounting();
    memory::note_model_bytes(16 * MiB);
    memory::set_model_memory_reuse(true);
    REQUIRE(memory::model_memory_reuse());
    void* first = nullptr;
    {
      at::Tensor t = at::empty({2 * 1024 * 1024}, at::kFloat);  // 8 MiB
      t.fill_(1.0f);
      first = t.data_ptr();
    }
    CHECK(memory::kept_model_bytes() == 8 * MiB);
    {
      at::Tensor other_size = at::empty({3 * 1024 * 1024}, at::kFloat);  // 12 MiB: a fresh block
      CHECK(other_size.data_ptr() != first);
      at::Tensor again = at::empty({2 * 1024 * 1024}, at::kFloat);
      CHECK(again.data_ptr() == first);  // the same pages, resident already
      CHECK(memory::kept_model_bytes() == 0);
    }  // `again` dies first and is kept; then 8 + 12 MiB would pass the bound: the 12 are freed
    CHECK(memory::kept_model_bytes() == 8 * MiB);
    {
      at::Tensor small = at::empty({1024}, at::kFloat);  // under kReusedBlockBytes: never kept
    }
    CHECK(memory::kept_model_bytes() == 8 * MiB);
    memory::set_model_memory_reuse(false);
    CHECK(memory::kept_model_bytes() == 0);
    {
      at::Tensor t = at::empty({2 * 1024 * 1024}, at::kFloat);
    }
    CHECK(memory::kept_model_bytes() == 0);
  }

  TEST_CASE("memory: the peak RSS can be reset for one phase") {
    {
      std::vector<char> big(64 * MiB, 1);
      CHECK(memory::process_memory().peak_rss_bytes >= 64 * MiB);
    }
    memory::cleanup_memory(false);
    REQUIRE(memory::reset_peak_rss());
    const auto m = memory::process_memory();
    CHECK(m.peak_rss_bytes < m.rss_bytes + 8 * MiB);
  }

  TEST_CASE("memory: cleanups are counted") {
    const auto before = memory::cleanups_run();
    memory::cleanup_memory(false);
    CHECK(memory::cleanups_run() == before + 1);
  }
}
