#pragma once
// How a process's memory moves from round to round, from its memory/<process>.csv: the
// one definition of "drift" that the benchmarks and `cohort compare` report.

#include "jobs/job_files.hpp"

#include <cstdint>
#include <filesystem>
#include <map>

namespace cohort::jobs {

/// A column of memory/<process>.csv at each round's end: the last sample labelled with
/// each round.
std::map<std::int64_t, double> by_round(const std::filesystem::path& memory_csv,
                                        double MemoryRow::*column = &MemoryRow::rss_mb);

/// Least-squares slope (per round) over the rounds in [from, to]; one sample per round is
/// noisy, a fitted line is not. 0 with fewer than two rounds.
double slope(const std::map<std::int64_t, double>& values, std::int64_t from, std::int64_t to);

}  // namespace cohort::jobs
