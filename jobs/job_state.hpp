#pragma once
// Where a job is in its life: SUBMITTED -> DISPATCHED -> RUNNING -> one of the finished
// states; a job the server was running when it stopped is RESUMED (running again from its
// last completed round) when it starts again. The one spelling of each state, for the job store, the scheduler, the runner,
// status.txt, the admin protocol and the CLI.

#include <optional>
#include <string>
#include <string_view>

namespace cohort::jobs {

enum class JobState {
  submitted,
  dispatched,
  running,
  resumed,
  // Finished:
  completed,
  aborted,
  execution_exception,
  abnormal,
  can_not_schedule,
};

/// "SUBMITTED", "RUNNING", "COMPLETED", ...
std::string_view to_string(JobState state);
/// The state spelled `text`, or nothing.
std::optional<JobState> parse_job_state(std::string_view text);
/// Whether `state` is one of the finished states.
bool is_finished(JobState state);

}  // namespace cohort::jobs
