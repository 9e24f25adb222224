#pragma once
// The long-running server's jobs: submissions go into the job store as SUBMITTED; a
// scheduler thread starts each one (DISPATCHED, then RUNNING on its own thread) once its
// sites are connected and fewer than max_concurrent_jobs run; a job that waits longer
// than schedule_timeout ends CAN_NOT_SCHEDULE.
//
// A server that starts finds the jobs it was running when it stopped (killed, or shut
// down) still DISPATCHED, RUNNING or RESUMED in the store: under the "resume" policy each
// goes on (RESUMED, in a new job epoch) from its last completed round once its sites are
// back; under "abnormal" it ends ABNORMAL.

#include "jobs/job_store.hpp"
#include "recipe/recipe.hpp"
#include "server/job_runner.hpp"
#include "server/server.hpp"
#include "telemetry/process_metrics.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace cohort::server {

struct SchedulerOptions {
  std::filesystem::path workspace;
  std::vector<std::filesystem::path> plugin_dirs;
  std::size_t max_concurrent_jobs = 2;
  std::chrono::milliseconds schedule_timeout{std::chrono::minutes(10)};
  /// Builds a job's initial model (the model zoo lives outside libcohort); nothing when a
  /// site supplies it ([model] from_site).
  std::function<std::optional<Model>(const recipe::Recipe&)> initial_model;
  /// The logger of one job (writes the job's logs/server.log too).
  std::function<std::shared_ptr<spdlog::logger>(const jobs::JobDirectory&)> job_logger;
  /// What a restart does to the jobs that were running (a recipe's own setting wins):
  /// "resume" or "abnormal" (config::read_restart_policy).
  std::string on_server_restart = "resume";
  /// The server's Prometheus metrics, when it serves them: each job's rounds go there.
  std::shared_ptr<telemetry::ProcessMetrics> metrics;
};

/// Who submitted a job.
struct Submitter {
  std::string name, org, role;
};

class JobScheduler {
 public:
  JobScheduler(Server& server, jobs::JobStore& store, SchedulerOptions options, std::shared_ptr<spdlog::logger> log);
  /// Aborts running jobs and joins.
  ~JobScheduler();
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  /// Resumes (or ends) the jobs interrupted by the last stop, then starts scheduling.
  void start();
  /// Aborts every running job (they end ABORTED) and stops scheduling.
  void stop();

  /// Checks the recipe (ConfigError with file:line:col when bad), stores it and records
  /// the job as SUBMITTED. Returns the job id. With `files` (what travels with the recipe,
  /// e.g. a Python script), `file_name` is the recipe's path among them: they are stored
  /// in the job's app/ folder and the recipe is checked there.
  std::string submit(const std::string& recipe_text, const std::string& file_name,
                     const std::vector<jobs::AppFile>& files, const Submitter& by);
  /// Aborts a job: one still waiting ends ABORTED at once, a running one is asked to
  /// stop. Returns "" or why it cannot be aborted.
  std::string abort(const std::string& job_id, const std::string& by);
  /// The server's name, the sites connected now and the ids of the jobs running.
  std::string server_name() const { return server_.options().name; }
  std::vector<std::string> connected_sites() const { return server_.connected_sites(); }
  std::vector<std::string> running_jobs();

 private:
  struct Running;
  void loop();
  /// Whether the job's sites are connected (the recipe's sites, or min_clients of any).
  bool ready(const recipe::Recipe& recipe) const;
  /// Runs the job on a thread of its own; `epoch` > 0 resumes it (jobs::ResumeState).
  void launch(const jobs::JobRecord& record, recipe::Recipe recipe, std::int64_t epoch = 0);
  /// On the job's thread: runs it and records how it ended, unless the server's shutdown
  /// stopped a job that resumes (`policy`) at the next start.
  void run_job(Running& r, const std::string& id, const std::string& policy);
  void resume_interrupted();
  std::optional<recipe::Recipe> load(const jobs::JobRecord& record);

  Server& server_;
  jobs::JobStore& store_;
  SchedulerOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Running>> running_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cohort::server
