#include <cohort/hooks.hpp>

namespace cohort {

std::string_view to_string(EventType type) {
  switch (type) {
    case EventType::job_started: return "job_started";
    case EventType::round_started: return "round_started";
    case EventType::task_sent: return "task_sent";
    case EventType::result_received: return "result_received";
    case EventType::result_aggregated: return "result_aggregated";
    case EventType::round_ended: return "round_ended";
    case EventType::job_ended: return "job_ended";
    case EventType::site_joined: return "site_joined";
    case EventType::site_lost: return "site_lost";
  }
  return "unknown";
}

}  // namespace cohort
