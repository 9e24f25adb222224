#include "hooks/hook_bus.hpp"

#include <spdlog/logger.h>

namespace cohort::hooks {

HookBus::HookBus(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

void HookBus::add(std::shared_ptr<Hook> hook) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(hook));
}

void HookBus::fire(const Event& event) {
  std::vector<std::shared_ptr<Hook>> hooks;
  {
    std::lock_guard lock(mutex_);
    hooks = hooks_;
  }
  log_->debug("event {} round {} site '{}'", to_string(event.type), event.round, event.site);
  for (const auto& hook : hooks) hook->on_event(event, *log_);
}

}  // namespace cohort::hooks
