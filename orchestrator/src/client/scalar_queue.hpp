#pragma once
// A site's scalars on their way to the server (ExecutorContext::log_scalar), without I/O:
// the executor's thread pushes, the site link takes batches to send and says when each is
// settled. It is bounded: at most `capacity` scalars logged and not yet written, so a
// flood of logging, or a link that is down, costs bounded memory and never blocks the
// task; what does not fit is dropped and counted, and the count travels with the next
// batch (net::Scalars::dropped).

#include "net/protocol.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace cohort::client {

class ScalarQueue {
 public:
  using Clock = std::chrono::steady_clock;
  /// Scalars logged and not yet written, at most.
  static constexpr std::size_t kCapacity = 20000;
  /// Scalars in one SCALARS frame, at most.
  static constexpr std::size_t kBatch = 1000;
  /// A batch is due once its oldest scalar has waited this long.
  static constexpr std::chrono::milliseconds kLatency{500};

  explicit ScalarQueue(std::size_t capacity = kCapacity, std::size_t batch = kBatch);

  /// Queues `scalar` of job `job_id` (in its `epoch`); false when it was dropped: the queue
  /// is full, its value is not finite or its tag empty or longer than kMaxScalarTagBytes.
  /// Scalars of another job still queued are dropped (the site moved on).
  bool push(const std::string& job_id, std::int64_t epoch, net::Scalar scalar, Clock::time_point now);
  /// The next batch to send, when one is due (a full batch, or one whose oldest scalar has
  /// waited kLatency) or `flush` asks for what there is (an empty batch when only the drop
  /// count is news). Its scalars count against the capacity until settled() says so.
  std::optional<net::Scalars> take(Clock::time_point now, bool flush);
  /// A batch of `count` scalars taken earlier is written (or lost with its link).
  void settled(std::size_t count);

  /// Scalars dropped for the current job so far.
  std::uint64_t dropped() const;
  /// Scalars queued, and taken but not settled.
  std::size_t pending() const;

 private:
  const std::size_t capacity_;
  const std::size_t batch_;
  mutable std::mutex mutex_;
  std::string job_id_;
  std::int64_t epoch_ = 0;
  std::deque<net::Scalar> queued_;
  Clock::time_point oldest_{};
  std::size_t in_flight_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t reported_dropped_ = 0;
};

}  // namespace cohort::client
