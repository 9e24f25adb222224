#include "hooks/builtin_hooks.hpp"

#include <ATen/ops/zeros.h>
#include <spdlog/logger.h>

#include <doctest/doctest.h>

using namespace cohort;

namespace {

hooks::ModelReferences held() {
  hooks::ModelReferences r;
  r.received.tensors.push_back({"w", at::zeros({4})});
  r.sent.tensors.push_back({"w", at::zeros({4})});
  return r;
}

}  // namespace

TEST_CASE("reference release: a client's round_ended drops both references") {
  auto refs = held();
  spdlog::logger log("test");
  hooks::ReferenceRelease release(refs, true);
  release.on_event(Event{EventType::round_started, Role::client, "j", 0, "s"}, log);
  CHECK(refs.received.tensors.size() == 1);
  release.on_event(Event{EventType::round_ended, Role::client, "j", 0, "s"}, log);
  CHECK(refs.received.tensors.empty());
  CHECK(refs.sent.tensors.empty());
}

TEST_CASE("reference release: clear_cache = false keeps them") {
  auto refs = held();
  spdlog::logger log("test");
  hooks::ReferenceRelease release(refs, false);
  release.on_event(Event{EventType::round_ended, Role::client, "j", 0, "s"}, log);
  CHECK(refs.received.tensors.size() == 1);
  CHECK(refs.sent.tensors.size() == 1);
}
