#pragma once
// A job as a client process sees it: the recipe the server announced, the executor it
// names, the memory settings (environment over recipe) and the hooks that apply them.

#include "hooks/builtin_hooks.hpp"
#include "hooks/hook_bus.hpp"
#include "hooks/memory_monitor.hpp"
#include "client/secure_site.hpp"
#include "privacy/mechanism.hpp"
#include "recipe/recipe.hpp"

#include <atomic>
#include <cohort/executor.hpp>
#include <cohort/site_workflow.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort::client {

class SiteLink;

/// Memory settings of a client for one job.
struct ClientMemory {
  std::int64_t gc_rounds = 0;
  bool cuda_empty_cache = false;
  bool clear_cache = true;
};

/// The recipe's client memory settings, overridden by COHORT_CLIENT_MEMORY_GC_ROUNDS and
/// COHORT_CUDA_EMPTY_CACHE when set (so that external processes and operators can change
/// them without editing the recipe). Throws std::invalid_argument on a bad variable.
ClientMemory client_memory(const recipe::Recipe& recipe);

class ClientJob {
 public:
  /// Loads the announced recipe (with this machine's plugins) and makes the executor.
  ClientJob(const std::string& job_id, const std::string& recipe_path, const std::string& recipe_text,
            std::vector<std::string> participants, const std::vector<std::filesystem::path>& plugin_dirs,
            const std::filesystem::path& workspace, const std::string& process_name,
            std::shared_ptr<spdlog::logger> process_log);
  ~ClientJob();

  const JobInfo& info() const { return job_; }
  /// The job's epoch as last announced (net::JobAnnounce::epoch): tasks and messages of an
  /// older one are dropped, and what the sites send carries it.
  std::int64_t epoch() const { return epoch_.load(); }
  void set_epoch(std::int64_t epoch) { epoch_ = epoch; }
  /// The job's sites in partition order.
  const std::vector<std::string>& participants() const { return participants_; }
  /// A new site workflow, when the job's controller is client-controlled (else null).
  std::shared_ptr<SiteWorkflow> make_site_workflow() const;
  Executor& executor() { return *executor_; }
  spdlog::logger& log() { return *log_; }
  const ClientMemory& memory() const { return memory_; }

  /// After a task's result is on the wire: fires round_ended for the client role (the
  /// periodic cleanup hook runs when due) and labels the memory samples.
  void task_done(std::int64_t round, const std::string& site);
  /// The references to the current task's received and sent models; the reference
  /// release hook drops them after the result is on the wire.
  hooks::ModelReferences& references() { return references_; }
  /// The copy of a task's model that site-side privacy measures the update against.
  privacy::ReferenceCopy& privacy_reference() { return privacy_reference_; }
  /// The job's secure rounds at this process's sites (null without [secure_aggregation]).
  SecureSites* secure() { return secure_.get(); }
  /// Rounds after which the periodic cleanup ran.
  std::vector<std::int64_t> cleaned_rounds() const { return cleanup_->cleaned_rounds(); }

 private:
  JobInfo job_;
  std::atomic<std::int64_t> epoch_{0};
  std::vector<std::string> participants_;
  std::shared_ptr<spdlog::logger> log_;
  recipe::Recipe recipe_;
  ClientMemory memory_;
  std::shared_ptr<Executor> executor_;
  // Before the monitor: destroyed after it, so its last sample sees what the job held.
  hooks::ModelReferences references_;
  privacy::ReferenceCopy privacy_reference_;
  std::unique_ptr<hooks::HookBus> hooks_;
  std::unique_ptr<SecureSites> secure_;
  std::shared_ptr<hooks::PeriodicCleanup> cleanup_;
  std::unique_ptr<hooks::MemoryMonitor> monitor_;
};

/// What the executor sees of the site it runs a task for.
class SiteExecutorContext final : public ExecutorContext {
 public:
  /// Site `site`, `index` of `count` in the job's partition order; `stopping` says when the
  /// task should stop early.
  SiteExecutorContext(std::string site, std::int64_t index, std::int64_t count, ClientJob& job,
                      std::function<bool()> stopping, SiteLink& link)
      : site_(std::move(site)), index_(index), count_(count), job_(job), stopping_(std::move(stopping)), link_(link) {}
  const std::string& site() const override { return site_; }
  std::int64_t site_index() const override { return index_; }
  std::int64_t num_sites() const override { return count_; }
  const JobInfo& job() const override { return job_.info(); }
  spdlog::logger& log() override { return job_.log(); }
  bool abort_requested() const override { return stopping_(); }
  /// Queued on the site's link (SiteLink::log_scalar), stamped with the time now.
  void log_scalar(const std::string& tag, double value, std::int64_t step) override;

 private:
  std::string site_;
  std::int64_t index_;
  std::int64_t count_;
  ClientJob& job_;
  std::function<bool()> stopping_;
  SiteLink& link_;
};

}  // namespace cohort::client
