#include "hooks/builtin_hooks.hpp"
#include "hooks/hook_bus.hpp"

#include <spdlog/logger.h>

#include <doctest/doctest.h>

using namespace cohort;

namespace {

std::vector<std::int64_t> cleaned_over(std::int64_t every, std::int64_t rounds, Role role = Role::server) {
  auto log = std::make_shared<spdlog::logger>("test");
  hooks::HookBus bus(log);
  auto cleanup = std::make_shared<hooks::PeriodicCleanup>(role, every, false);
  bus.add(cleanup);
  for (std::int64_t r = 0; r < rounds; ++r) {
    bus.fire(Event{EventType::round_started, Role::server, "job", r, ""});
    bus.fire(Event{EventType::round_ended, Role::server, "job", r, ""});
  }
  return cleanup->cleaned_rounds();
}

}  // namespace

TEST_CASE("periodic cleanup: 0 never runs") { CHECK(cleaned_over(0, 10).empty()); }

TEST_CASE("periodic cleanup: 1 runs after every round") {
  CHECK((cleaned_over(1, 4) == std::vector<std::int64_t>{0, 1, 2, 3}));
}

TEST_CASE("periodic cleanup: 5 runs when (round + 1) % 5 == 0") {
  CHECK((cleaned_over(5, 12) == std::vector<std::int64_t>{4, 9}));
}

TEST_CASE("periodic cleanup: a client hook ignores server events") { CHECK(cleaned_over(1, 3, Role::client).empty()); }
