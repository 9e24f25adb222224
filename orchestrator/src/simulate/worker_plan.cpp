#include "simulate/worker_plan.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

namespace cohort::simulate {

WorkerPlan plan_workers(const PlanInputs& in) {
  WorkerPlan plan;
  const double used_mb = in.total_mb - in.available_mb;
  const double kept_mb = in.site_kept_mb * static_cast<double>(in.sites);
  plan.budget_mb = std::max(0.0, in.total_mb * in.limit_percent / 100.0 - used_mb - in.site_peak_mb - kept_mb);
  plan.fit_in_memory =
      in.site_peak_mb > 0 ? static_cast<std::int64_t>(std::floor(plan.budget_mb / in.site_peak_mb)) : in.sites;
  const std::int64_t cores = std::max<std::int64_t>(1, in.cores);
  plan.workers = std::min({cores, in.sites, plan.fit_in_memory});
  plan.bound = plan.workers == plan.fit_in_memory && plan.fit_in_memory < std::min(cores, in.sites) ? "memory"
               : plan.workers == in.sites && in.sites < cores                                        ? "sites"
                                                                                                      : "cores";
  plan.workers = std::max<std::int64_t>(1, plan.workers);
  return plan;
}

std::string describe(const WorkerPlan& plan, const PlanInputs& in) {
  std::ostringstream out;
  out << "workers: " << plan.workers << " (" << plan.bound << "); a site peaks at "
      << static_cast<long long>(std::lround(in.site_peak_mb)) << " MiB, " << plan.fit_in_memory
      << " would fit in free memory (" << static_cast<long long>(std::lround(plan.budget_mb)) << " MiB free below "
      << std::fixed << std::setprecision(0) << in.limit_percent << " % of RAM beside the server), " << in.cores
      << " cores";
  if (in.site_kept_mb >= 1)
    out << "; each site keeps " << static_cast<long long>(std::lround(in.site_kept_mb))
        << " MiB until the job ends (processes its task left running, e.g. a script launched once), "
        << static_cast<long long>(std::lround(in.site_kept_mb * static_cast<double>(in.sites))) << " MiB for "
        << in.sites << " sites, set aside";
  if (plan.fit_in_memory < 1)
    out << "; one process needs more than is free: expect swapping"
        << (in.site_kept_mb >= 1 ? " (a script launched per task keeps nothing between tasks)" : "");
  return out.str();
}

void machine_memory(double& total_mb, double& available_mb) {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  total_mb = available_mb = 0;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") total_mb = kib / 1024;
    else if (key == "MemAvailable:") available_mb = kib / 1024;
  }
}

std::int64_t usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace cohort::simulate
