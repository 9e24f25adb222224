#pragma once
// The summary a finished job prints (`cohort simulate`, `cohort mpi`): its state and
// time, each round's time and the global model's accuracy after it, where the median
// round's time went, each process's peak RSS, and where the results are.

#include "jobs/job_directory.hpp"

#include <nlohmann/json.hpp>

#include <ostream>

namespace cohort::jobs {

/// Writes the summary of the job in `directory`, which took `seconds` in all.
void print_summary(std::ostream& out, const JobDirectory& directory, double seconds);

/// The same figures as one JSON object (`--format json`; README, "From Python"): job_id,
/// status, message, folder, seconds, rounds [{round, seconds, results, failed,
/// server_rss_mb, server_round_peak_rss_mb, epsilon (null without [privacy])}], global_metrics [{round, metrics}] (the global
/// model's evaluation after each round), peak_rss_mb {process: MiB}.
nlohmann::json summary_json(const JobDirectory& directory, double seconds);

}  // namespace cohort::jobs
