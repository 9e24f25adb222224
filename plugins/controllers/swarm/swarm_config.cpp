#include "swarm.hpp"

#include <algorithm>
#include <random>
#include <sstream>

namespace cohort::swarm {

SwarmConfig parse_config(const Args& args, const JobInfo& job) {
  SwarmConfig c;
  c.min_responses = args.get<std::int64_t>("min_responses", 0, at_least(0));
  c.wait_after_min = args.seconds("wait_after_min_s", {}, between(0, 86400));
  c.aggregation_timeout = args.seconds("aggregation_timeout_s", std::chrono::seconds(600), between(0.1, 7 * 86400));
  c.key_metric = KeyMetric::from_args(args);
  c.max_status_report_interval =
      args.seconds("max_status_report_interval_s", std::chrono::seconds(90), between(0.5, 86400));
  c.status_report_interval = args.seconds("status_report_interval_s", {}, between(0, 86400));
  if (c.status_report_interval.count() == 0)
    c.status_report_interval = std::max(std::chrono::milliseconds(200), c.max_status_report_interval / 3);
  if (c.status_report_interval >= c.max_status_report_interval)
    args.fail("status_report_interval_s", "must be shorter than max_status_report_interval_s");
  c.progress_timeout = args.seconds("progress_timeout_s", std::chrono::seconds(3600), between(0.5, 30 * 86400));
  c.first_aggregator = args.get<std::string>("first_aggregator", "");
  c.aggregators = args.get<std::vector<std::string>>("aggregators", {});
  for (const auto* list : {&c.aggregators}) {
    for (const auto& s : *list) {
      if (!job.sites.empty() && std::find(job.sites.begin(), job.sites.end(), s) == job.sites.end())
        args.fail("aggregators", "site '" + s + "' is not one of the job's sites");
    }
  }
  if (!c.first_aggregator.empty() && !job.sites.empty() &&
      std::find(job.sites.begin(), job.sites.end(), c.first_aggregator) == job.sites.end())
    args.fail("first_aggregator", "site '" + c.first_aggregator + "' is not one of the job's sites");
  c.seed = args.get<std::int64_t>("seed", 0);
  return c;
}

std::string choose_aggregator(std::vector<std::string> eligible, std::int64_t seed, std::int64_t round) {
  if (eligible.empty()) return {};
  std::sort(eligible.begin(), eligible.end());
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 1000003ULL + static_cast<std::uint64_t>(round));
  std::uniform_int_distribution<std::size_t> pick(0, eligible.size() - 1);
  return eligible[pick(rng)];
}

}  // namespace cohort::swarm
