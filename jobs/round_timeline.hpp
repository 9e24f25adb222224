#pragma once
// Where a round's time went, from its rows of timeline.csv: the round's time split along
// its critical path (in each broadcast, the site whose result ended last), so that the
// parts add up to the round.
//
//   send     from a broadcast's start until its slowest site's task was written out
//   sites    from then until that site's result began to arrive (its read of the model,
//            its training, its first result bytes)
//   receive  from then until the result's last byte was folded in
//   server   everything else: waiting after the last result, aggregation, checkpoints
//            queued, hooks, and the time between broadcasts

#include "jobs/job_files.hpp"

#include <map>
#include <string>
#include <vector>

namespace cohort::jobs {

struct RoundParts {
  std::int64_t round = 0;
  double seconds = 0;
  double send = 0;
  double sites = 0;
  double receive = 0;
  double server = 0;
  /// The last broadcast's slowest site, and how long after the first result its own ended.
  std::string slowest_site;
  double slowest_after_first = 0;
};

/// The parts of every round that has its round_ended row, by round.
std::map<std::int64_t, RoundParts> round_parts(const std::vector<TimelineRow>& rows);

/// "1.23 s = send 0.21 + sites 0.80 + receive 0.15 + server 0.07 (slowest site-2, 0.05 s
/// after the first result)".
std::string describe(const RoundParts& parts);

}  // namespace cohort::jobs
