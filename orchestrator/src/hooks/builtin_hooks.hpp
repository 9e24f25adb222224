#pragma once
// The hooks every cohort process installs.

#include <cohort/hooks.hpp>
#include <cohort/memory.hpp>

#include <atomic>
#include <cstdint>
#include <functional>

namespace cohort::hooks {

/// Runs cleanup_memory() after round r when `(r + 1) % every_rounds == 0` (0: never).
/// Fires on round_ended, which the server sends after the round's aggregation and
/// persist, and which a client fires after its result is on the wire.
class PeriodicCleanup final : public Hook {
 public:
  PeriodicCleanup(Role role, std::int64_t every_rounds, bool cuda_empty_cache);
  void on_event(const Event& event, spdlog::logger& log) override;
  /// Rounds after which a cleanup ran, in order (for tests and reports).
  std::vector<std::int64_t> cleaned_rounds() const;
  /// Whether round `round` is a cleanup round for interval `every_rounds`.
  static bool due(std::int64_t round, std::int64_t every_rounds);

 private:
  Role role_;
  std::int64_t every_rounds_;
  bool cuda_empty_cache_;
  mutable std::mutex mutex_;
  std::vector<std::int64_t> cleaned_;
};

}  // namespace cohort::hooks
