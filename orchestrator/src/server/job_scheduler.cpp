#include "server/job_scheduler.hpp"
#include "config/text_file.hpp"

#include "provisioning/certificates.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/resume_state.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace cohort::server {

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct JobScheduler::Running {
  std::unique_ptr<JobRunner> runner;
  std::thread thread;
  std::atomic<bool> done{false};
  std::string aborted_by;
};

JobScheduler::JobScheduler(Server& server, jobs::JobStore& store, SchedulerOptions options,
                           std::shared_ptr<spdlog::logger> log)
    : server_(server), store_(store), options_(std::move(options)), log_(std::move(log)) {}

JobScheduler::~JobScheduler() { stop(); }

namespace {

constexpr const char* kShutdown = "the server shutting down";

}  // namespace

void JobScheduler::start() {
  resume_interrupted();
  thread_ = std::thread([this] { loop(); });
}

void JobScheduler::resume_interrupted() {
  for (const auto& record : store_.interrupted()) {
    const jobs::JobDirectory directory(options_.workspace, record.id);
    if (const auto status = directory.read_status()) {
      // It ended before the store heard of it.
      store_.set_state(record.id, status->state, status->message);
      continue;
    }
    auto recipe = load(record);
    if (!recipe) continue;
    const std::string policy = recipe->on_server_restart.empty() ? options_.on_server_restart : recipe->on_server_restart;
    const std::string why = "the server stopped while the job was " +
                            std::string(record.state == jobs::JobState::dispatched ? "starting" : "running") +
                            " (after " + std::to_string(record.rounds_completed) + " of " +
                            std::to_string(record.num_rounds) + " rounds)";
    if (policy != "resume") {
      store_.set_state(record.id, jobs::JobState::abnormal, why);
      log_->warn("job {}: {}: ABNORMAL (on_server_restart = \"{}\")", record.id, why, policy);
      continue;
    }
    store_.mark_resumed(record.id, why);
    log_->warn("job {}: {}: RESUMED, job epoch {}", record.id, why, record.resumes + 1);
    launch(record, std::move(*recipe), record.resumes + 1);
  }
}

void JobScheduler::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<Running>> running;
  {
    std::lock_guard lock(mutex_);
    running.swap(running_);
  }
  for (auto& [id, r] : running) {
    r->aborted_by = kShutdown;
    r->runner->abort(std::string("aborted by ") + kShutdown);
  }
  for (auto& [id, r] : running) r->thread.join();
}

std::string JobScheduler::submit(const std::string& recipe_text, const std::string& file_name,
                                 const std::vector<jobs::AppFile>& files, const Submitter& by) {
  jobs::JobRecord record;
  record.id = jobs::new_job_id();
  const jobs::JobDirectory directory(options_.workspace, record.id);
  recipe::Recipe recipe;
  if (files.empty()) {
    // Checked as the job will run it: plugins found, arguments valid.
    recipe = recipe::parse_recipe(recipe_text, file_name, options_.plugin_dirs);
    directory.create();
    config::write_text_file(directory.recipe(), recipe_text);
  } else {
    // The files first: the recipe's relative paths resolve among them.
    try {
      for (const auto& file : files) directory.write_app_file(file);
      directory.write_app_file({file_name, recipe_text});
      directory.link_recipe(file_name);
      recipe = recipe::parse_recipe(recipe_text, directory.recipe_location(), options_.plugin_dirs);
    } catch (...) {
      std::filesystem::remove_all(directory.root());
      throw;
    }
    directory.create();
  }
  record.name = recipe.job.name;
  record.state = jobs::JobState::submitted;
  record.submitter = by.name;
  record.submitter_org = by.org;
  record.submitter_role = by.role;
  record.num_rounds = recipe.job.num_rounds;
  store_.add(record);
  log_->info("job {} ('{}') submitted by {} ({}, org '{}'){}", record.id, record.name, by.name, by.role, by.org,
             files.empty() ? "" : " with " + std::to_string(files.size()) + " files");
  return record.id;
}

std::vector<std::string> JobScheduler::running_jobs() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  for (const auto& [id, running] : running_) ids.push_back(id);
  return ids;
}

std::string JobScheduler::abort(const std::string& job_id, const std::string& by) {
  std::lock_guard lock(mutex_);
  if (auto it = running_.find(job_id); it != running_.end()) {
    it->second->aborted_by = by;
    it->second->runner->abort();
    log_->info("job {}: abort requested by {}", job_id, by);
    return "";
  }
  const auto record = store_.get(job_id);
  if (!record) return "no job " + job_id;
  if (jobs::is_finished(record->state))
    return "job " + job_id + " has already finished (" + std::string(jobs::to_string(record->state)) + ")";
  store_.set_state(job_id, jobs::JobState::aborted, "aborted by " + by + " before it started");
  log_->info("job {}: aborted by {} before it started", job_id, by);
  return "";
}

std::optional<recipe::Recipe> JobScheduler::load(const jobs::JobRecord& record) {
  const jobs::JobDirectory directory(options_.workspace, record.id);
  try {
    std::ifstream in(directory.recipe(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return recipe::parse_recipe(text.str(), directory.recipe_location(), options_.plugin_dirs);
  } catch (const std::exception& e) {
    // It was checked at submission: a plugin removed since, or the file lost.
    store_.set_state(record.id, jobs::JobState::execution_exception, std::string("cannot load its recipe: ") + e.what());
    return std::nullopt;
  }
}

bool JobScheduler::ready(const recipe::Recipe& recipe) const {
  const auto connected = server_.connected_sites();
  if (!recipe.job.sites.empty()) {
    return std::all_of(recipe.job.sites.begin(), recipe.job.sites.end(), [&](const std::string& s) {
      return std::find(connected.begin(), connected.end(), s) != connected.end();
    });
  }
  return static_cast<std::int64_t>(connected.size()) >= recipe.job.min_clients;
}

void JobScheduler::loop() {
  std::map<std::string, recipe::Recipe> waiting;  // parsed once per job
  while (!stopping_) {
    {
      // Reap finished jobs.
      std::lock_guard lock(mutex_);
      for (auto it = running_.begin(); it != running_.end();) {
        if (it->second->done) {
          it->second->thread.join();
          it = running_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& record : store_.in_state(jobs::JobState::submitted)) {
      if (stopping_) break;
      auto it = waiting.find(record.id);
      if (it == waiting.end()) {
        auto recipe = load(record);
        if (!recipe) continue;
        it = waiting.emplace(record.id, std::move(*recipe)).first;
      }
      const auto waited = std::chrono::seconds(now_seconds() - record.submitted_at);
      std::size_t running;
      {
        std::lock_guard lock(mutex_);
        running = running_.size();
      }
      if (running < options_.max_concurrent_jobs && ready(it->second)) {
        store_.set_state(record.id, jobs::JobState::dispatched);
        launch(record, std::move(it->second));
        waiting.erase(it);
      } else if (waited > options_.schedule_timeout) {
        const std::string why = running >= options_.max_concurrent_jobs
                                    ? std::to_string(running) + " jobs were running (max_concurrent_jobs)"
                                    : "its sites were not connected";
        store_.set_state(record.id, jobs::JobState::can_not_schedule,
                          "not started within " + std::to_string(options_.schedule_timeout.count() / 1000) +
                              " s: " + why);
        log_->warn("job {}: CAN_NOT_SCHEDULE ({})", record.id, why);
        waiting.erase(it);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void JobScheduler::launch(const jobs::JobRecord& record, recipe::Recipe recipe, std::int64_t epoch) {
  JobSetup setup;
  setup.job_id = record.id;
  setup.epoch = epoch;
  setup.resume = epoch > 0;
  const std::string policy = recipe.on_server_restart.empty() ? options_.on_server_restart : recipe.on_server_restart;
  setup.recipe_text = config::read_text_file(jobs::JobDirectory(options_.workspace, record.id).recipe());
  setup.workspace = options_.workspace;
  // A resumed job waits for its sites to reconnect, whose backoff may have grown while the
  // server was down.
  setup.start_timeout = setup.resume ? std::max<std::chrono::milliseconds>(options_.schedule_timeout, std::chrono::minutes(2))
                                     : std::chrono::seconds(30);
  setup.on_round = [this, id = record.id](std::int64_t rounds) { store_.set_progress(id, rounds); };
  if (options_.metrics) {
    setup.on_round_row = [metrics = options_.metrics, id = record.id](const jobs::RoundRow& row) {
      metrics->round_completed(id, row.seconds, static_cast<std::size_t>(row.failed.value_or(0)));
    };
  }
  auto running = std::make_unique<Running>();
  Running* r = running.get();
  std::lock_guard lock(mutex_);
  try {
    // A resumed job's model comes from its resume state, once a round has completed.
    std::optional<jobs::ResumeState> state;
    if (setup.resume) {
      try {
        state = jobs::read_resume_state(jobs::JobDirectory(options_.workspace, record.id));
      } catch (const std::exception&) {
        // The runner says why it cannot resume.
      }
    }
    if (!state || state->round < 0) setup.initial_model = options_.initial_model(recipe);
  } catch (const std::exception& e) {
    store_.set_state(record.id, jobs::JobState::execution_exception, std::string("cannot build the initial model: ") + e.what());
    return;
  }
  setup.recipe = std::move(recipe);
  const jobs::JobDirectory directory(options_.workspace, record.id);
  directory.create();
  r->runner = std::make_unique<JobRunner>(server_, std::move(setup),
                                          options_.job_logger ? options_.job_logger(directory) : log_);
  if (epoch == 0) store_.set_state(record.id, jobs::JobState::running);
  r->thread = std::thread([this, r, id = record.id, policy] { run_job(*r, id, policy); });
  running_.emplace(record.id, std::move(running));
}

void JobScheduler::run_job(Running& r, const std::string& id, const std::string& policy) {
  JobResult result;
  try {
    result = r.runner->run();
  } catch (const std::exception& e) {
    result.state = jobs::JobState::execution_exception;
    result.message = e.what();
  }
  store_.set_progress(id, result.rounds_completed);
  if (options_.metrics) options_.metrics->job_ended(id);
  if (result.state == jobs::JobState::aborted && r.aborted_by == kShutdown && policy == "resume" &&
      r.runner->resumable()) {
    // Not the end of the job: the next start resumes it.
    log_->info("job {}: stopped with the server after {} rounds; it resumes when the server starts again", id,
               result.rounds_completed);
    r.done = true;
    return;
  }
  std::string message = result.message;
  if (result.state == jobs::JobState::aborted && !r.aborted_by.empty()) message = "aborted by " + r.aborted_by;
  r.runner->directory().write_status(result.state, message);
  store_.set_state(id, result.state, message);
  jobs::remove_resume_state(r.runner->directory());  // once the store knows it ended
  r.done = true;
}

}  // namespace cohort::server
