#include "jobs/job_state.hpp"

#include <array>
#include <utility>

namespace cohort::jobs {

namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 9> kNames{{
    {JobState::submitted, "SUBMITTED"},
    {JobState::dispatched, "DISPATCHED"},
    {JobState::running, "RUNNING"},
    {JobState::resumed, "RESUMED"},
    {JobState::completed, "COMPLETED"},
    {JobState::aborted, "ABORTED"},
    {JobState::execution_exception, "EXECUTION_EXCEPTION"},
    {JobState::abnormal, "ABNORMAL"},
    {JobState::can_not_schedule, "CAN_NOT_SCHEDULE"},
}};

}  // namespace

std::string_view to_string(JobState state) {
  for (const auto& [s, name] : kNames) {
    if (s == state) return name;
  }
  return "UNKNOWN";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (const auto& [s, name] : kNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool is_finished(JobState state) {
  return state != JobState::submitted && state != JobState::dispatched && state != JobState::running &&
         state != JobState::resumed;
}

}  // namespace cohort::jobs
