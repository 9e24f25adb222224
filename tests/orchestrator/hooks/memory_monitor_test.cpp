#include "hooks/memory_monitor.hpp"

#include "support/temp_dir.hpp"

#include <spdlog/logger.h>

#include <doctest/doctest.h>

#include <thread>

TEST_CASE("memory monitor: above the critical share of RAM it cleans up at once, once per cooldown") {
  cohort::test::TempDir dir;
  auto log = std::make_shared<spdlog::logger>("test");
  // Any machine uses more than 0.001% of its RAM: every sample is "critical".
  cohort::hooks::MonitorSettings settings{std::chrono::milliseconds(20), 0.0005, 0.001, false,
                                          std::chrono::milliseconds(100000)};
  cohort::hooks::MemoryMonitor monitor(dir / "memory.csv", settings, log);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(monitor.emergency_cleanups() == 1);
}

TEST_CASE("memory monitor: below the thresholds it does nothing") {
  cohort::test::TempDir dir;
  auto log = std::make_shared<spdlog::logger>("test");
  cohort::hooks::MonitorSettings settings{std::chrono::milliseconds(20), 100, 100, false, std::chrono::milliseconds(0)};
  cohort::hooks::MemoryMonitor monitor(dir / "memory.csv", settings, log);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(monitor.emergency_cleanups() == 0);
}
