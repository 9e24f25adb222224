// A site's scalars on their way to the server: batches, the bound and its drop count.
#include "client/scalar_queue.hpp"

#include <cohort/metrics.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using cohort::client::ScalarQueue;
using cohort::net::Scalar;

namespace {

const ScalarQueue::Clock::time_point t0{};

Scalar scalar(std::int64_t step, double value = 1.0) { return Scalar{"loss", step, value, 1.7e9}; }

}  // namespace

TEST_CASE("scalar queue: a batch is due when full or old, or when flushed") {
  ScalarQueue queue(100, 3);
  CHECK(queue.push("job-1", 0, scalar(0), t0));
  CHECK(queue.push("job-1", 0, scalar(1), t0));
  CHECK_FALSE(queue.take(t0, false));  // two of three, and fresh
  CHECK(queue.push("job-1", 0, scalar(2), t0));
  auto full = queue.take(t0, false);
  REQUIRE(full);
  CHECK(full->job_id == "job-1");
  CHECK(full->scalars.size() == 3);
  CHECK(full->scalars[0].step == 0);  // step 0 is a step like any other
  CHECK(queue.push("job-1", 0, scalar(3), t0));
  CHECK_FALSE(queue.take(t0 + ScalarQueue::kLatency / 2, false));
  CHECK(queue.take(t0 + ScalarQueue::kLatency, false)->scalars.size() == 1);
  CHECK(queue.push("job-1", 0, scalar(4), t0));
  CHECK(queue.take(t0, true)->scalars.size() == 1);
  CHECK_FALSE(queue.take(t0, true));  // nothing left, nothing to report
}

TEST_CASE("scalar queue: a flood beyond the bound is dropped and counted, never blocked on") {
  ScalarQueue queue(5, 1000);
  int kept = 0;
  for (int i = 0; i < 1000; ++i) kept += queue.push("job-1", 0, scalar(i), t0) ? 1 : 0;
  CHECK(kept == 5);
  CHECK(queue.dropped() == 995);
  auto batch = queue.take(t0, true);
  REQUIRE(batch);
  CHECK(batch->scalars.size() == 5);
  CHECK(batch->dropped == 995);
  // Taken but not written: they still hold their places.
  CHECK_FALSE(queue.push("job-1", 0, scalar(1000), t0));
  CHECK(queue.pending() == 5);
  queue.settled(5);
  CHECK(queue.push("job-1", 0, scalar(1001), t0));
  CHECK(queue.take(t0, true)->dropped == 996);
}

TEST_CASE("scalar queue: a value that is not finite, an empty or oversized tag is a counted drop") {
  ScalarQueue queue;
  CHECK_FALSE(queue.push("job-1", 0, scalar(0, std::numeric_limits<double>::quiet_NaN()), t0));
  CHECK_FALSE(queue.push("job-1", 0, scalar(0, std::numeric_limits<double>::infinity()), t0));
  CHECK_FALSE(queue.push("job-1", 0, Scalar{"", 0, 1.0, 0}, t0));
  CHECK_FALSE(queue.push("job-1", 0, Scalar{std::string(cohort::kMaxScalarTagBytes + 1, 't'), 0, 1.0, 0}, t0));
  CHECK(queue.push("job-1", 0, Scalar{std::string(cohort::kMaxScalarTagBytes, 't'), 0, 1.0, 0}, t0));
  CHECK(queue.dropped() == 4);
  // Only drops to report: a flush still sends them, in an empty batch.
  ScalarQueue only_drops;
  only_drops.push("job-1", 0, scalar(0, NAN), t0);
  auto batch = only_drops.take(t0, true);
  REQUIRE(batch);
  CHECK(batch->scalars.empty());
  CHECK(batch->dropped == 1);
}

TEST_CASE("scalar queue: a new job (or epoch) starts afresh: what the last left queued is dropped") {
  ScalarQueue queue;
  queue.push("job-1", 0, scalar(0), t0);
  queue.push("job-1", 0, scalar(0, NAN), t0);
  queue.push("job-2", 0, scalar(7), t0);
  auto batch = queue.take(t0, true);
  REQUIRE(batch);
  CHECK(batch->job_id == "job-2");
  CHECK(batch->dropped == 0);
  REQUIRE(batch->scalars.size() == 1);
  CHECK(batch->scalars[0].step == 7);
}
