// workers = "auto": the cores bound the processes unless the memory below the limit does.
#include "simulate/worker_plan.hpp"

#include <doctest/doctest.h>

using cohort::simulate::PlanInputs;
using cohort::simulate::plan_workers;

namespace {

PlanInputs machine(double site_peak_mb) {
  PlanInputs in;
  in.sites = 100;
  in.cores = 2;
  in.site_peak_mb = site_peak_mb;
  in.total_mb = 24000;
  in.available_mb = 20000;  // 4000 MiB in use
  in.limit_percent = 85;    // 20400 MiB: 16400 MiB left, less the server
  return in;
}

}  // namespace

TEST_CASE("worker plan: small sites fill the cores") {
  const auto in = machine(200);
  const auto plan = plan_workers(in);
  CHECK(plan.workers == 2);
  CHECK(plan.bound == "cores");
  CHECK(plan.fit_in_memory == 81);  // (16400 - 200) / 200
  CHECK(describe(plan, in).rfind("workers: 2 (cores); a site peaks at 200 MiB, 81 would fit in free memory", 0) == 0);
}

TEST_CASE("worker plan: a larger site means fewer processes, never none") {
  auto in = machine(200);
  in.cores = 16;
  CHECK(plan_workers(in).workers == 16);
  in.site_peak_mb = 3000;  // (16400 - 3000) / 3000 = 4
  auto plan = plan_workers(in);
  CHECK(plan.workers == 4);
  CHECK(plan.bound == "memory");
  in.site_peak_mb = 20000;
  plan = plan_workers(in);
  CHECK(plan.workers == 1);
  CHECK(plan.fit_in_memory == 0);
  CHECK(describe(plan, in).find("expect swapping") != std::string::npos);
}

TEST_CASE("worker plan: what every site keeps (a script launched once) is set aside first") {
  auto in = machine(600);
  in.cores = 16;
  in.site_kept_mb = 100;  // 100 sites: 10000 MiB kept; (16400 - 600 - 10000) / 600 = 9
  auto plan = plan_workers(in);
  CHECK(plan.workers == 9);
  CHECK(describe(plan, in).find("each site keeps 100 MiB until the job ends") != std::string::npos);
  in.site_kept_mb = 200;  // 20000 MiB: more than there is
  plan = plan_workers(in);
  CHECK(plan.workers == 1);
  CHECK(describe(plan, in).find("a script launched per task keeps nothing between tasks") != std::string::npos);
}

TEST_CASE("worker plan: never more processes than sites") {
  auto in = machine(200);
  in.sites = 1;
  in.cores = 8;
  const auto plan = plan_workers(in);
  CHECK(plan.workers == 1);
  CHECK(plan.bound == "sites");
}
