#pragma once
// SIGINT and SIGTERM, delivered to a callback on a thread of their own (block them first,
// before any other thread starts, so that no other thread receives them).

#include <functional>
#include <thread>

namespace cohort::process {

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts later).
void block_termination_signals();

/// Waits, in the calling thread, for SIGINT or SIGTERM (blocked first, with
/// block_termination_signals) and returns which came.
int wait_for_termination_signal();

/// A thread that waits for SIGINT or SIGTERM and calls `on_signal` each time.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void(int)> on_signal);
  ~SignalWatcher();

 private:
  std::thread thread_;
};

}  // namespace cohort::process
