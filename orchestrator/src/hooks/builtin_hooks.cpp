#include "hooks/builtin_hooks.hpp"

#include <spdlog/logger.h>

namespace cohort::hooks {

PeriodicCleanup::PeriodicCleanup(Role role, std::int64_t every_rounds, bool cuda_empty_cache)
    : role_(role), every_rounds_(every_rounds), cuda_empty_cache_(cuda_empty_cache) {}

bool PeriodicCleanup::due(std::int64_t round, std::int64_t every_rounds) {
  return every_rounds > 0 && round >= 0 && (round + 1) % every_rounds == 0;
}

void PeriodicCleanup::on_event(const Event& event, spdlog::logger& log) {
  if (event.type != EventType::round_ended || event.role != role_ || !due(event.round, every_rounds_)) return;
  log.info("round {}: periodic memory cleanup (every {} rounds)", event.round, every_rounds_);
  memory::cleanup_memory(cuda_empty_cache_, &log);
  std::lock_guard lock(mutex_);
  cleaned_.push_back(event.round);
}

std::vector<std::int64_t> PeriodicCleanup::cleaned_rounds() const {
  std::lock_guard lock(mutex_);
  return cleaned_;
}

void ReferenceRelease::on_event(const Event& event, spdlog::logger& log) {
  if (event.type != EventType::round_ended || event.role != Role::client || !clear_cache_) return;
  const auto bytes = references_.received.byte_size() + references_.sent.byte_size();
  references_.received = Model{};
  references_.sent = Model{};
  log.debug("round {}: released the references to the received and sent models ({} bytes)", event.round, bytes);
}

}  // namespace cohort::hooks
