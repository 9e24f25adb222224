#pragma once
// The summary a finished job prints (`cohort simulate`, `cohort mpi`): its state and
// time, each round's time and the global model's accuracy after it, where the median
// round's time went, each process's peak RSS, and where the results are.

#include "jobs/job_directory.hpp"

#include <ostream>

namespace cohort::jobs {

/// Writes the summary of the job in `directory`, which took `seconds` in all.
void print_summary(std::ostream& out, const JobDirectory& directory, double seconds);

}  // namespace cohort::jobs
