#pragma once
// The hooks every cohort process installs.

#include <cohort/hooks.hpp>
#include "memory/memory.hpp"
#include <cohort/model.hpp>

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

/// The references a client keeps to a task's models: what it received and what it sent.
struct ModelReferences {
  Model received;
  Model sent;
};

/// Reference release: on the client's round_ended (after a result is on the wire), drops
/// the references to the received and the sent model, so that their storage goes back to
/// the allocator before the next task; with clear_cache false it keeps them (until the
/// next task replaces them) for users who need them.
class ReferenceRelease final : public Hook {
 public:
  ReferenceRelease(ModelReferences& references, bool clear_cache)
      : references_(references), clear_cache_(clear_cache) {}
  void on_event(const Event& event, spdlog::logger& log) override;

 private:
  ModelReferences& references_;
  bool clear_cache_;
};

}  // namespace cohort::hooks
