#pragma once
// Runs one job on the server: waits for its sites, announces it to them, drives the
// controller's run() on the calling thread as the controller's ControllerContext, and
// writes the job's results (models, metrics, rounds, timeline, memory, log). It sequences
// its parts: JobSites (gathering the sites, who is connected), RoundRecorder (each round's
// rows and the server's memory), resume:: (the state read back and saved after each round),
// CheckpointWriter (model files off the job's thread) and privacy::JobPrivacy.

#include "hooks/builtin_hooks.hpp"
#include "hooks/hook_bus.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/resume_state.hpp"
#include "privacy/job_privacy.hpp"
#include "recipe/recipe.hpp"
#include "server/checkpoint_writer.hpp"
#include "server/job_sites.hpp"
#include "server/round_recorder.hpp"
#include "server/secure_broadcast.hpp"
#include "server/server.hpp"

#include <cohort/controller.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>

namespace cohort {
class WeightedAverage;
}

namespace cohort::server {

class Broadcast;

struct JobSetup {
  std::string job_id;
  recipe::Recipe recipe;
  /// The recipe as submitted (saved as recipe.toml and sent to the sites).
  std::string recipe_text;
  std::filesystem::path workspace;
  /// The initial global model; nothing when a site supplies it ([model] from_site: a
  /// get_parameters task to the first site before round 1).
  std::optional<Model> initial_model;
  /// How long to wait for the job's sites before giving up (CAN_NOT_SCHEDULE).
  std::chrono::milliseconds start_timeout{std::chrono::minutes(2)};
  /// Name of this process in memory/ and logs/.
  std::string process_name = "server";
  /// The process's memory monitor, when the caller started it already (to record memory
  /// from before the initial model was built); else the runner starts one.
  std::unique_ptr<hooks::MemoryMonitor> monitor;
  /// The job's epoch: 0 for its first run, one more for each resume.
  std::int64_t epoch = 0;
  /// Go on from the job's resume state (jobs/resume_state.hpp) after a server restart; from
  /// the start when it has none (no round had completed). `initial_model` is then unused.
  bool resume = false;
  /// Hears the number of completed rounds after each round (the server's job store).
  std::function<void(std::int64_t)> on_round;
  /// Hears each completed round's row of rounds.csv (the process's metrics).
  std::function<void(const jobs::RoundRow&)> on_round_row;
};

struct JobResult {
  /// One of the finished states.
  jobs::JobState state = jobs::JobState::completed;
  std::string message;
  double seconds = 0;
  std::int64_t rounds_completed = 0;
};

class JobRunner final : public ControllerContext, public SiteListener {
 public:
  JobRunner(Server& server, JobSetup setup, std::shared_ptr<spdlog::logger> log);
  ~JobRunner() override;

  /// Runs the job to its end.
  JobResult run();
  /// Asks the job to stop (thread-safe); `reason` becomes its message.
  void abort(std::string reason = "aborted");
  const jobs::JobDirectory& directory() const { return directory_; }
  /// Whether the job's controller can resume after a server restart (once run() made it).
  bool resumable() const { return controller_ && controller_->resumable(); }

  // ControllerContext
  const JobInfo& job() const override { return job_; }
  spdlog::logger& log() override { return *log_; }
  std::vector<std::string> sites() const override;
  std::vector<std::string> sample(std::size_t n) override;
  const Model& global_model() const override { return global_; }
  void set_global_model(Model model) override;
  BroadcastOutcome broadcast(const Task& task, const std::vector<std::string>& targets, Reducer& reducer,
                             const BroadcastOptions& options) override;
  SendResult send(const Task& task, const std::string& site, const SendOptions& options) override;
  void notify(const std::string& site, const Task& task) override;
  std::optional<SiteReport> next_report(std::chrono::milliseconds timeout) override;
  void round_started(std::int64_t round) override;
  void round_ended(std::int64_t round) override;
  void persist(const Model& model, std::string_view tag) override;
  void record_metrics(std::int64_t round, const std::string& site, const Metrics& metrics) override;
  bool abort_requested() const override { return abort_.load() || budget_reached_.load(); }

  // SiteListener
  void site_joined(const std::string& site) override;
  void site_lost(const std::string& site, const std::string& reason) override;
  void site_returned(const std::string& site) override;
  const std::string& listened_job() const override { return job_.id; }
  std::int64_t listened_epoch() const override { return setup_.epoch; }
  bool may_relay(const std::string& from, const std::string& to) const override;
  std::unique_ptr<ResultSink> on_report(const std::string& site, const net::Report& report) override;
  void on_scalars(const std::string& site, const net::Scalars& scalars) override;

 private:
  // The steps of run(), in order. A step that returns a result has ended the job.
  /// Logs why the job ended before it ran and returns that result.
  JobResult failure(jobs::JobState state, std::string message);
  /// Opens the job's records: metrics, rounds, timeline, checkpoints, memory.
  void open_records();
  /// The recipe's hooks (after the built-in ones) and its controller.
  std::optional<JobResult> make_plugins();
  /// Restores a resumed job (when it had completed a round) or ends it ABNORMAL.
  std::optional<JobResult> resume(const std::optional<jobs::ResumeState>& resumed);
  /// Waits for the job's sites (named, or min_clients of any) and fixes its participants.
  std::optional<JobResult> gather_sites(const std::optional<jobs::ResumeState>& resumed);
  /// Announces the job to each site, once, and fires job_started.
  void announce_job(bool resumed);
  /// The controller's rounds, then the checkpoints on disk.
  JobResult run_rounds();
  /// Fires job_ended, tells the sites, stops listening.
  void end_job(const JobResult& result);

  void fire(EventType type, std::int64_t round, const std::string& site = {});
  /// Sends `task` (with each site's additions) to `targets` and waits for the results:
  /// broadcast() without a training step's privacy, counts and checkpoint flush.
  /// `average`, when given, may aggregate in the global model's memory (lend_global).
  BroadcastOutcome dispatch(const Task& task, const std::vector<std::string>& targets, const PerSite& per_site,
                            Reducer& reducer, const BroadcastOptions& options, WeightedAverage* average = nullptr);
  /// In-place aggregation: once `broadcast`'s tasks (the global model) are all on the wire,
  /// the global is made sure to be on disk and lent to `average` for its sums.
  void lend_global(Broadcast& broadcast, WeightedAverage& average);
  /// Sends the job to `site`, with its files when it carries some.
  void announce(const std::string& site);
  /// Reads the files the job carries (app/), once, before the first announcement.
  void read_app_files();
  /// Restores the global model, the controller and the runner's generator from `state`.
  void restore(const jobs::ResumeState& state);
  /// [model] from_site: asks the first site for its initial parameters (a get_parameters
  /// task without a model) and makes them the global model. Throws saying why not.
  void initial_model_from_site();
  /// Queues the state after `round` behind the round's checkpoints (resumable controllers).
  void save_resume_state(std::int64_t round);
  /// [privacy]: the job's account, made once its sites are known (restored on a resume).
  void start_privacy();
  /// Ends the job COMPLETED before its next training step: the privacy budget is spent.
  void stop_for_budget(std::string why);

  Server& server_;
  JobSetup setup_;
  std::shared_ptr<spdlog::logger> log_;
  jobs::JobDirectory directory_;
  JobInfo job_;
  std::shared_ptr<Controller> controller_;
  Model global_;
  /// The initial model comes from a site (JobSetup::initial_model was nothing).
  bool model_from_site_ = false;
  JobSites sites_;
  hooks::HookBus hooks_;
  std::unique_ptr<RoundRecorder> recorder_;
  std::unique_ptr<CheckpointWriter> checkpoints_;
  /// What a job that carries files announces: its recipe's path among them, and the files,
  /// shared by every announcement (at most jobs::kMaxAppBytes).
  struct App {
    std::string recipe;
    Model files;
  };
  std::optional<App> app_;
  std::atomic<bool> abort_{false};
  std::string abort_reason_;  // under reports_mutex_
  std::string abort_reason() const;
  mutable std::mutex reports_mutex_;
  std::condition_variable reports_ready_;
  std::deque<SiteReport> reports_;
  std::mt19937_64 rng_;
  std::unique_ptr<privacy::JobPrivacy> privacy_;
  /// The privacy state of a resumed job, for start_privacy().
  std::string resumed_privacy_;
  std::atomic<bool> budget_reached_{false};
  std::string budget_message_;  // set on the job's thread before budget_reached_
  std::int64_t rounds_completed_ = 0;
  /// The tensors last persisted as "global" (identity only): the resume state links that file.
  std::vector<const void*> persisted_global_;
  /// The tensors of the global lent to an average (identity only): their bytes are the
  /// average's, and their file, global_model.pt, is what persisting them links to.
  std::vector<const void*> lent_global_;
  /// A checkpoint failure met while lending the global, thrown when the broadcast ends.
  std::exception_ptr lend_failure_;
};

}  // namespace cohort::server
