#pragma once
/// @file hooks.hpp
/// Lifecycle events and the hooks that react to them (reference release, memory
/// cleanup, monitoring, a user's own).

#include <cohort/export.hpp>
#include <cohort/args.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace cohort {

/// The lifecycle events, in the order a round fires them.
enum class EventType {
  job_started,
  round_started,
  task_sent,
  result_received,
  result_aggregated,
  round_ended,
  job_ended,
  site_joined,
  site_lost,
};

/// The event's name as written in recipes and logs ("round_ended").
COHORT_API std::string_view to_string(EventType type);

/// Which kind of process fired an event.
enum class Role { server, client };

/// One event.
struct Event {
  EventType type = EventType::job_started;
  Role role = Role::server;
  std::string job_id;
  /// The round (-1 when the event is not about a round).
  std::int64_t round = -1;
  /// The site concerned (empty when none).
  std::string site;
};

/// A hook. Hooks run on the thread that fired the event and should be quick.
class Hook {
 public:
  virtual ~Hook() = default;
  /// Called for every event fired in the hook's process.
  virtual void on_event(const Event& event, spdlog::logger& log) = 0;
};

}  // namespace cohort
