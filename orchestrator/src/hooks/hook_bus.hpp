#pragma once
// Dispatches lifecycle events to the hooks of one process (or one job).

#include <cohort/hooks.hpp>

#include <memory>
#include <mutex>
#include <vector>

namespace cohort::hooks {

class HookBus {
 public:
  explicit HookBus(std::shared_ptr<spdlog::logger> log);

  /// Adds `hook`; hooks run in the order they were added.
  void add(std::shared_ptr<Hook> hook);
  /// Calls every hook with `event`, in order, on the calling thread. A hook that throws
  /// stops the dispatch and the exception propagates: an event a hook cannot handle is a
  /// failure of whatever fired it, not a warning.
  void fire(const Event& event);

 private:
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Hook>> hooks_;
};

}  // namespace cohort::hooks
