#include "client/scalar_queue.hpp"

#include <cohort/metrics.hpp>

#include <algorithm>
#include <cmath>

namespace cohort::client {

ScalarQueue::ScalarQueue(std::size_t capacity, std::size_t batch) : capacity_(capacity), batch_(std::max<std::size_t>(batch, 1)) {}

bool ScalarQueue::push(const std::string& job_id, std::int64_t epoch, net::Scalar scalar, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (job_id != job_id_ || epoch != epoch_) {
    job_id_ = job_id;
    epoch_ = epoch;
    queued_.clear();
    dropped_ = reported_dropped_ = 0;
  }
  const bool fits = queued_.size() + in_flight_ < capacity_;
  if (!fits || !std::isfinite(scalar.value) || scalar.tag.empty() || scalar.tag.size() > kMaxScalarTagBytes) {
    ++dropped_;
    return false;
  }
  if (queued_.empty()) oldest_ = now;
  queued_.push_back(std::move(scalar));
  return true;
}

std::optional<net::Scalars> ScalarQueue::take(Clock::time_point now, bool flush) {
  std::lock_guard lock(mutex_);
  const bool due = queued_.size() >= batch_ || (!queued_.empty() && now - oldest_ >= kLatency);
  const bool unreported = dropped_ != reported_dropped_;
  if (!(due || (flush && (!queued_.empty() || unreported)))) return std::nullopt;
  net::Scalars batch{.job_id = job_id_, .epoch = epoch_, .scalars = {}, .dropped = dropped_};
  const std::size_t n = std::min(batch_, queued_.size());
  batch.scalars.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(queued_.begin() + n));
  queued_.erase(queued_.begin(), queued_.begin() + n);
  in_flight_ += n;
  oldest_ = now;
  reported_dropped_ = dropped_;
  return batch;
}

void ScalarQueue::settled(std::size_t count) {
  std::lock_guard lock(mutex_);
  in_flight_ -= std::min(count, in_flight_);
}

std::uint64_t ScalarQueue::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::size_t ScalarQueue::pending() const {
  std::lock_guard lock(mutex_);
  return queued_.size() + in_flight_;
}

}  // namespace cohort::client
