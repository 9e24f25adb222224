// A comparison's figures from a job folder written the way the server writes one.
#include "compare/run_figures.hpp"
#include "jobs/csv.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/memory_trend.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace cohort::compare;
namespace jobs = cohort::jobs;

namespace {

/// A job folder with the global accuracy after each round, and memory files whose RSS
/// grows by `drift` MiB a round.
std::filesystem::path job_with(const cohort::test::TempDir& dir, const std::vector<double>& accuracy, double drift) {
  const jobs::JobDirectory job(dir.path(), "job-1");
  job.create();
  {
    jobs::CsvWriter metrics(job.metrics_csv(), {"round", "site", "accuracy"});
    for (std::size_t r = 0; r < accuracy.size(); ++r) {
      metrics.append({std::to_string(r), "site-1", "0.1"});
      metrics.append({std::to_string(r), "global", jobs::fixed(accuracy[r], 4)});
    }
  }
  for (const std::string process : {"server", "client-1", "client-2"}) {
    jobs::CsvWriter memory(job.memory_csv(process), {"elapsed_s", "rss_mb", "peak_rss_mb", "children_rss_mb", "round"});
    for (int r = 1; r <= 30; ++r) {
      const double rss = 100 + (process == "client-2" ? 2 * drift : drift) * r;
      memory.append({std::to_string(r), jobs::fixed(rss, 3), jobs::fixed(rss + 50, 3), process == "client-1" ? "300" : "0",
                     std::to_string(r)});
    }
  }
  return job.root();
}

}  // namespace

TEST_CASE("run figures: final, best and rounds to target from the global metric") {
  cohort::test::TempDir dir;
  const auto job = job_with(dir, {0.5, 0.8, 0.7}, 0);
  MetricGoal goal;
  goal.target = 0.75;
  const auto f = read_run(job, goal);
  REQUIRE(f.per_round.size() == 3);
  CHECK(*f.final_value == doctest::Approx(0.7));
  CHECK(*f.best_value == doctest::Approx(0.8));
  CHECK(*f.rounds_to_target == 2);
  goal.maximize = false;
  goal.target = 0.4;
  const auto lower = read_run(job, goal);
  CHECK(*lower.best_value == doctest::Approx(0.5));
  CHECK_FALSE(lower.rounds_to_target);
}

TEST_CASE("run figures: peaks count a process's children, drift is the fitted slope from round 10") {
  cohort::test::TempDir dir;
  const auto f = read_run(job_with(dir, {0.5}, 0.5), MetricGoal{});
  CHECK(f.server_peak_mb == doctest::Approx(100 + 0.5 * 30 + 50));
  CHECK(f.client_peak_mb == doctest::Approx(100 + 0.5 * 30 + 50 + 300));  // client-1 and its script
  CHECK(f.server_drift_mb == doctest::Approx(0.5));
  CHECK(f.client_drift_mb == doctest::Approx(1.0));  // the steepest client
}

TEST_CASE("spread: mean and sample standard deviation of the values present") {
  const auto s = spread({1.0, std::nullopt, 3.0});
  CHECK(s.n == 2);
  CHECK(s.mean == doctest::Approx(2.0));
  CHECK(s.std == doctest::Approx(std::sqrt(2.0)));
  CHECK(describe(s, 2) == "2.00 ± 1.41");
  CHECK(describe(spread({0.5}), 2) == "0.50");
  CHECK(describe(spread({}), 2) == "–");
  CHECK(jobs::slope({{1, 1.0}, {2, 3.0}, {3, 5.0}}, 1, 3) == doctest::Approx(2.0));
}
