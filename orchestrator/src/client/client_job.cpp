#include "client/client_job.hpp"

#include "client/site_link.hpp"
#include "jobs/event_file.hpp"
#include "jobs/job_directory.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <cstdlib>
#include <stdexcept>

namespace cohort::client {

ClientMemory client_memory(const recipe::Recipe& recipe) {
  ClientMemory m;
  const auto& mem = recipe.memory;
  m.gc_rounds = recipe.client_controlled ? mem.memory_gc_rounds : mem.client_memory_gc_rounds;
  m.cuda_empty_cache = mem.cuda_empty_cache;
  m.clear_cache = mem.clear_cache;
  if (const char* v = std::getenv("COHORT_CLIENT_MEMORY_GC_ROUNDS"); v && *v) {
    char* end = nullptr;
    long long n = std::strtoll(v, &end, 10);
    if (*end != '\0' || n < 0)
      throw ConfigError({}, std::string("COHORT_CLIENT_MEMORY_GC_ROUNDS='") + v + "': expected a non-negative integer");
    m.gc_rounds = n;
  }
  if (const char* v = std::getenv("COHORT_CUDA_EMPTY_CACHE"); v && *v) {
    const std::string s(v);
    if (s == "true" || s == "1") m.cuda_empty_cache = true;
    else if (s == "false" || s == "0") m.cuda_empty_cache = false;
    else throw ConfigError({}, "COHORT_CUDA_EMPTY_CACHE='" + s + "': expected true or false");
  }
  return m;
}

ClientJob::ClientJob(const std::string& job_id, const std::string& recipe_path, const std::string& recipe_text,
                     std::vector<std::string> participants, const std::vector<std::filesystem::path>& plugin_dirs,
                     const std::filesystem::path& workspace, const std::string& process_name,
                     std::shared_ptr<spdlog::logger> process_log)
    : participants_(std::move(participants)) {
  recipe_ = recipe::parse_recipe(recipe_text, recipe_path, plugin_dirs);
  job_ = recipe_.job;
  job_.id = job_id;
  const jobs::JobDirectory directory(workspace, job_id);
  directory.create();
  // The job's log: the process's sinks plus the job's own file.
  std::vector<spdlog::sink_ptr> sinks = process_log->sinks();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(directory.log(process_name).string());
  file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%P:%t] [%l] %v");
  sinks.push_back(file);
  log_ = std::make_shared<spdlog::logger>(process_name, sinks.begin(), sinks.end());
  log_->set_level(process_log->level());
  log_->flush_on(spdlog::level::info);

  memory_ = client_memory(recipe_);
  if (recipe_.secure_aggregation.on) secure_ = std::make_unique<SecureSites>(recipe_.secure_aggregation, *log_);
  executor_ = recipe_.executor_plugin->make_executor(PluginConfig{recipe_.executor.args, job_, recipe_.model});
  cleanup_ = std::make_shared<hooks::PeriodicCleanup>(Role::client, memory_.gc_rounds, memory_.cuda_empty_cache);
  hooks_ = std::make_unique<hooks::HookBus>(log_);
  // Release the references first, so that the cleanup that may follow finds them freed.
  hooks_->add(std::make_shared<hooks::ReferenceRelease>(references_, memory_.clear_cache));
  hooks_->add(cleanup_);
  for (std::size_t i = 0; i < recipe_.hooks.size(); ++i)
    hooks_->add(recipe_.hook_plugins[i]->make_hook(PluginConfig{recipe_.hooks[i].args, job_, recipe_.model}));
  const auto& mem = recipe_.memory;
  monitor_ = std::make_unique<hooks::MemoryMonitor>(
      directory.memory_csv(process_name),
      hooks::MonitorSettings{mem.monitor_interval, mem.warn_percent, mem.critical_percent, memory_.cuda_empty_cache},
      log_);
  log_->info("job {} ('{}'): executor {}, cleanup every {} rounds{}, clear_cache {}", job_id, job_.name,
             recipe_.executor.plugin, memory_.gc_rounds, memory_.cuda_empty_cache ? " with CUDA cache" : "",
             memory_.clear_cache);
}

ClientJob::~ClientJob() = default;

std::shared_ptr<SiteWorkflow> ClientJob::make_site_workflow() const {
  return recipe_.controller_plugin->make_site_workflow(PluginConfig{recipe_.controller.args, job_, recipe_.model});
}

void ClientJob::task_done(std::int64_t round, const std::string& site) {
  hooks_->fire(Event{EventType::round_ended, Role::client, job_.id, round, site});
  monitor_->set_round(round + 1);
  const auto mem = memory::process_memory();
  const auto alloc = memory::allocator_stats();
  const auto tensors = memory::tensor_bytes();
  log_->info("round {} done for site '{}': rss {:.1f} MiB (peak {:.1f}), tensors {} MiB, allocator free {:.1f} MiB",
             round, site, memory::mib(mem.rss_bytes), memory::mib(mem.peak_rss_bytes),
             tensors ? fmt::format("{:.1f}", memory::mib(*tensors)) : std::string("n/a"), memory::mib(alloc.free_bytes));
}

void SiteExecutorContext::log_scalar(const std::string& tag, double value, std::int64_t step) {
  link_.log_scalar(job_.info().id, job_.epoch(), net::Scalar{tag, step, value, jobs::wall_time_now()});
}

}  // namespace cohort::client
