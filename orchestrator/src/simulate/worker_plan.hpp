#pragma once
// How many client processes a simulation runs: `workers = "auto"` measures what one site's
// task takes (`cohort recipe probe`, a real training task in a real process) and fits the
// processes into the cores and the memory that is free, staying under the recipe's warning
// level of RAM (`[memory] warn_percent`, 85 % by default).

#include <cstdint>
#include <string>

namespace cohort::simulate {

/// What the choice is made from.
struct PlanInputs {
  std::int64_t sites = 1;
  /// Cores this process may run on.
  std::int64_t cores = 1;
  /// Peak RSS of a process running one site's task, its children (a Python script)
  /// included: the probe's measurement.
  double site_peak_mb = 0;
  /// What a site keeps from its first task to the job's end, whatever process it is in:
  /// processes the task started that still run after it (a Python script launched once).
  double site_kept_mb = 0;
  /// The machine's memory now.
  double total_mb = 0;
  double available_mb = 0;
  /// RAM percent the simulation stays under.
  double limit_percent = 85;
};

/// The choice, and why.
struct WorkerPlan {
  std::int64_t workers = 1;
  /// Client processes that fit in the memory left below the limit, the server counted as
  /// one more process of the site's size (it holds the model and the running average)
  /// and every site's kept memory set aside.
  std::int64_t fit_in_memory = 0;
  /// What bounds `workers`: "cores", "memory" or "sites".
  std::string bound;
  double budget_mb = 0;
};

WorkerPlan plan_workers(const PlanInputs& in);

/// One line for the summary: `workers: 2 (cores); a site peaks at 210 MiB, 38 would fit
/// in free memory`.
std::string describe(const WorkerPlan& plan, const PlanInputs& in);

/// The cores this process may run on (its CPU affinity).
std::int64_t usable_cores();

/// The machine's memory now (MiB): MemTotal and MemAvailable of /proc/meminfo. (The SDK's
/// memory::system_memory() reads the same, but this launcher links no SDK: no libtorch.)
void machine_memory(double& total_mb, double& available_mb);

}  // namespace cohort::simulate
