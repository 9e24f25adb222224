#include "net/write_queue.hpp"

#include <algorithm>

namespace cohort::net {

std::optional<Outgoing> WriteQueue::pop() {
  auto it = items_.begin();
  if (active_stream_ != 0)
    it = std::find_if(items_.begin(), items_.end(), [this](const Outgoing& o) { return o.stream == active_stream_; });
  if (it == items_.end()) return std::nullopt;
  Outgoing item = std::move(*it);
  items_.erase(it);
  if (item.opens) active_stream_ = item.stream;
  if (item.closes && item.stream == active_stream_) active_stream_ = 0;
  return item;
}

std::optional<Outgoing> WriteQueue::pop_between_chunks() {
  const auto it = std::find_if(items_.begin(), items_.end(), [](const Outgoing& o) { return o.between_chunks; });
  if (it == items_.end()) return std::nullopt;
  Outgoing item = std::move(*it);
  items_.erase(it);
  return item;
}

std::deque<Outgoing> WriteQueue::take_all() {
  std::deque<Outgoing> all;
  all.swap(items_);
  return all;
}

}  // namespace cohort::net
