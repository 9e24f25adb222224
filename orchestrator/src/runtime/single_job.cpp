#include "runtime/single_job.hpp"
#include "runtime/initial_model.hpp"

#include "config/text_file.hpp"
#include "config/toml_file.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/resume_state.hpp"
#include "process/logging.hpp"
#include "process/signals.hpp"

#include <spdlog/logger.h>

namespace cohort::runtime {

LoadedJob load_job(const SingleJob& job) {
  const std::string text = config::read_text_file(job.recipe_file);
  LoadedJob loaded{recipe::parse_recipe(text, job.recipe_file, job.plugin_dirs, job.overrides), {}};
  loaded.model = models::parse_spec(loaded.recipe.model, loaded.recipe.job.seed);  // a wrong [model] fails here, located
  if (!job.sites.empty()) loaded.recipe.job.sites = job.sites;
  return loaded;
}

server::JobResult run_single_job(server::Server& server, const SingleJob& job, LoadedJob loaded,
                                 const std::shared_ptr<spdlog::logger>& log,
                                 const std::function<void(server::JobRunner*)>& on_runner) {
  server::JobSetup setup;
  setup.job_id = job.job_id.empty() ? jobs::new_job_id() : job.job_id;
  const jobs::JobDirectory directory(job.workspace, setup.job_id);
  directory.create();
  auto job_log = process::make_child_logger(log, job.process_name, directory.log(job.process_name));
  // Sample memory from before the initial model exists: "initial RSS" in memprofile.
  const auto& mem = loaded.recipe.memory;
  setup.monitor = std::make_unique<hooks::MemoryMonitor>(
      directory.memory_csv(job.process_name),
      hooks::MonitorSettings{mem.monitor_interval, mem.warn_percent, mem.critical_percent, mem.cuda_empty_cache},
      job_log);
  setup.recipe_text = loaded.recipe.text;
  setup.workspace = job.workspace;
  setup.initial_model = make_initial_model(loaded.model);
  setup.recipe = std::move(loaded.recipe);
  setup.start_timeout = job.start_timeout;
  setup.process_name = job.process_name;
  server::JobRunner runner(server, std::move(setup), job_log);
  if (on_runner) on_runner(&runner);
  process::SignalWatcher signals([&](int signal) {
    log->warn("signal {}: aborting the job", signal);
    runner.abort(job.on_signal + " (signal " + std::to_string(signal) + ")");
  });
  const auto result = runner.run();
  if (on_runner) on_runner(nullptr);
  runner.directory().write_status(result.state, result.message);
  jobs::remove_resume_state(runner.directory());  // a single job is not resumed
  return result;
}

}  // namespace cohort::runtime
