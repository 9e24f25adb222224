#include "server/job_runner.hpp"

#include "server/broadcast.hpp"
#include "server/job_resume.hpp"
#include "server/secure_broadcast.hpp"

#include "config/text_file.hpp"
#include "memory/memory.hpp"

#include <cohort/error.hpp>

#include <ATen/ops/empty.h>

#include <spdlog/logger.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace cohort::server {

using Clock = std::chrono::steady_clock;

namespace {

/// Collects one whole result model (send-and-wait).
class Collect final : public Reducer {
 public:
  std::unique_ptr<ResultSink> open(const ResultInfo& info) override {
    info_ = info;
    return std::make_unique<ModelBuilder>([this](bool complete, Model model, const std::string&) {
      if (complete) model_ = std::move(model);
    });
  }
  ResultInfo info_;
  Model model_;
};

}  // namespace

JobRunner::JobRunner(Server& server, JobSetup setup, std::shared_ptr<spdlog::logger> log)
    : server_(server),
      setup_(std::move(setup)),
      log_(std::move(log)),
      directory_(setup_.workspace, setup_.job_id),
      job_(setup_.recipe.job),
      sites_(server),
      hooks_(log_),
      rng_(static_cast<std::uint64_t>(setup_.recipe.job.seed)) {
  job_.id = setup_.job_id;
  if (setup_.initial_model) global_ = std::move(*setup_.initial_model);
  else model_from_site_ = true;
  setup_.initial_model.reset();
}

void JobRunner::initial_model_from_site() {
  const std::string& site = sites_.participants().front();
  log_->info("job {}: asking site '{}' for the initial model ([model] from_site)", job_.id, site);
  SendOptions options;
  options.timeout = setup_.start_timeout;
  SendResult answer = send(Task{kGetParametersTask, -1, {}, {}}, site, options);
  recorder_->forget_timeline();  // not a round's
  if (!answer.ok) throw JobError("[model] from_site: site '" + site + "' gave no initial model: " + answer.error);
  if (answer.model.tensors.empty())
    throw JobError("[model] from_site: site '" + site + "' answered get_parameters without tensors");
  global_ = std::move(answer.model);
  global_.round = -1;
  global_.num_steps.reset();
  global_.metrics.clear();
  log_->info("job {}: the initial model is site '{}''s: {} tensors, {:.1f} MiB", job_.id, site, global_.tensors.size(),
             memory::mib(global_.byte_size()));
}

JobRunner::~JobRunner() { server_.remove_listener(this); }

void JobRunner::fire(EventType type, std::int64_t round, const std::string& site) {
  hooks_.fire(Event{type, Role::server, job_.id, round, site});
}

void JobRunner::announce(const std::string& site) {
  if (!app_) {
    server_.send(site, net::JobAnnounce{job_.id, setup_.recipe.file.string(), setup_.recipe_text, sites_.participants(),
                                        false, setup_.epoch});
    return;
  }
  server_.send(site, net::JobAnnounce{job_.id, app_->recipe, setup_.recipe_text, sites_.participants(), true, setup_.epoch},
               app_->files);
}

void JobRunner::read_app_files() {
  auto recipe = directory_.app_recipe();
  if (!recipe) return;
  Model files;
  for (const auto& path : directory_.app_files()) {
    const auto file = directory_.app() / path;
    auto bytes = at::empty({static_cast<std::int64_t>(std::filesystem::file_size(file))}, at::kByte);
    std::ifstream in(file, std::ios::binary);
    in.read(static_cast<char*>(bytes.data_ptr()), bytes.numel());
    if (!in) throw IoError(file, "cannot read the job's file");
    files.tensors.push_back({path, std::move(bytes)});
  }
  app_ = App{std::move(*recipe), std::move(files)};
}

bool JobRunner::may_relay(const std::string& from, const std::string& to) const {
  return sites_.started() && sites_.participates(from) && sites_.participates(to);
}

void JobRunner::on_scalars(const std::string& site, const net::Scalars& scalars) {
  if (!sites_.participates(site)) return;
  std::vector<jobs::TrackedScalar> tracked;
  tracked.reserve(scalars.scalars.size());
  for (const auto& s : scalars.scalars) tracked.push_back({site, s.tag, s.step, s.value, s.wall_time});
  recorder_->record_site_scalars(site, std::move(tracked), scalars.dropped);
}

std::unique_ptr<ResultSink> JobRunner::on_report(const std::string& site, const net::Report& report) {
  if (!sites_.participates(site)) {
    log_->warn("report '{}' from '{}', which is not a site of this job: dropped", report.message.name, site);
    return nullptr;
  }
  SiteReport r;
  static_cast<SiteMessage&>(r) = report.message;
  r.from = site;
  auto deliver = [this](SiteReport r) {
    std::lock_guard lock(reports_mutex_);
    reports_.push_back(std::move(r));
    reports_ready_.notify_all();
  };
  if (report.has_model) {
    // The report waits for its model; a model cut off loses the report.
    return std::make_unique<ModelBuilder>([r = std::move(r), deliver](bool complete, Model model, const std::string&) mutable {
      if (!complete) return;
      r.model = std::move(model);
      deliver(std::move(r));
    });
  }
  deliver(std::move(r));
  return nullptr;
}

void JobRunner::notify(const std::string& site, const Task& task) {
  net::Deliver deliver;
  deliver.job_id = job_.id;
  deliver.to = site;
  deliver.epoch = setup_.epoch;
  deliver.message = SiteMessage{"server", task.name, task.round, task.meta, {}, {}};
  deliver.has_model = !task.model.tensors.empty();
  if (deliver.has_model) server_.send(site, std::move(deliver), task.model);
  else server_.send(site, std::move(deliver));
}

std::optional<SiteReport> JobRunner::next_report(std::chrono::milliseconds timeout) {
  std::unique_lock lock(reports_mutex_);
  if (!reports_ready_.wait_for(lock, timeout, [this] { return !reports_.empty() || abort_.load(); })) return std::nullopt;
  if (reports_.empty()) return std::nullopt;
  SiteReport r = std::move(reports_.front());
  reports_.pop_front();
  return r;
}

void JobRunner::site_joined(const std::string& site) {
  if (!sites_.joined(site)) return;
  announce(site);
  fire(EventType::site_joined, -1, site);
}

void JobRunner::site_returned(const std::string& site) {
  if (sites_.returned(site)) announce(site);
}

void JobRunner::abort(std::string reason) {
  {
    std::lock_guard lock(reports_mutex_);
    if (!abort_) abort_reason_ = std::move(reason);
    abort_ = true;
  }
  reports_ready_.notify_all();
}

std::string JobRunner::abort_reason() const {
  std::lock_guard lock(reports_mutex_);
  return abort_reason_;
}

void JobRunner::site_lost(const std::string& site, const std::string& reason) {
  if (!sites_.lost(site)) return;
  log_->warn("site '{}' lost: {}", site, reason);
  fire(EventType::site_lost, -1, site);
}

std::vector<std::string> JobRunner::sites() const { return sites_.connected(); }

std::vector<std::string> JobRunner::sample(std::size_t n) {
  auto available = sites();
  if (n >= available.size()) return available;
  std::shuffle(available.begin(), available.end(), rng_);
  available.resize(n);
  std::sort(available.begin(), available.end());
  return available;
}

void JobRunner::set_global_model(Model model) {
  global_ = std::move(model);  // the previous global model is released here
  lent_global_.clear();
}

BroadcastOutcome JobRunner::broadcast(const Task& task, const std::vector<std::string>& targets, Reducer& reducer,
                                      const BroadcastOptions& options) {
  // A training average is one step of the privacy mechanism (clipped, noised, accounted)
  // and, with [secure_aggregation], a secure round.
  const bool secure = setup_.recipe.secure_aggregation.on;
  auto* average = dynamic_cast<WeightedAverage*>(&reducer);
  std::shared_ptr<privacy::PrivateAverage> private_average;
  Task sent{task.name, task.round, task.model, task.meta};
  if (average && privacy_) {
    if (auto why = privacy_->refuses(targets.size())) {
      stop_for_budget(*why);
      return {};
    }
    private_average = privacy_->begin_average(task.model, targets.size(), task.round);
    // A secure round noises the unmasked sum itself (no second model for the noise).
    if (private_average && !secure) average->set_privacy(private_average);
    sent.meta.merge(privacy_->task_meta(task.round));
  }
  const auto dispatch = [this](const Task& t, const std::vector<std::string>& to, const PerSite& per_site, Reducer& r,
                               const BroadcastOptions& o) { return this->dispatch(t, to, per_site, r, o); };
  BroadcastOutcome outcome =
      average && secure
          ? secure_broadcast(SecureSetup{setup_.recipe.secure_aggregation, {job_.id, setup_.epoch, task.round},
                                         directory_.root(), rng_(), *log_, dispatch, private_average.get()},
                             sent, targets, *average, options)
          : this->dispatch(sent, targets, {}, reducer, options, average);
  if (auto failure = std::exchange(lend_failure_, nullptr)) std::rethrow_exception(failure);
  if (average && privacy_) privacy_->end_average(task.round, targets, private_average.get());
  for (const auto& r : outcome.received) fire(EventType::result_received, task.round, r.site);
  for (const auto& r : outcome.received) fire(EventType::result_aggregated, task.round, r.site);
  recorder_->count(outcome.received.size(), outcome.failed.size());
  // Checkpoints queued before went to disk while the tasks ran; from here on the
  // controller may change the persisted model in place.
  checkpoints_->flush();
  return outcome;
}

namespace {

std::vector<const void*> identities(const Model& model) {
  std::vector<const void*> out;
  for (const auto& t : model.tensors) out.push_back(t.tensor.unsafeGetTensorImpl());
  return out;
}

}  // namespace

void JobRunner::lend_global(Broadcast& broadcast, WeightedAverage& average) {
  broadcast.when_sent([this, &broadcast, &average] {
    try {
      checkpoints_->flush();
    } catch (...) {
      lend_failure_ = std::current_exception();
      return true;
    }
    const auto file = directory_.artifact("global");
    const bool lent = broadcast.lend_model([&average, this] { return average.reuse_reference(global_); },
                                           [file] { return std::optional<Model>(load_checkpoint(file)); });
    if (!lent) return false;  // a task is being sent again: once it is written
    lent_global_ = identities(global_);
    log_->debug("round {}: the global model's memory holds the average's sums", global_.round + 1);
    return true;
  });
}

BroadcastOutcome JobRunner::dispatch(const Task& task, const std::vector<std::string>& targets, const PerSite& per_site,
                                     Reducer& reducer, const BroadcastOptions& options, WeightedAverage* average) {
  auto mark = [recorder = recorder_.get(), round = task.round, index = recorder_->next_broadcast(),
               name = task.name](const std::string& site, const char* event) {
    recorder->mark(round, index, name, site, event);
  };
  mark("server", "broadcast_began");
  // A site that comes back mid-task gets the task's model again; a secure stage's models of
  // each site's own are not kept (the site counts as lost in that stage).
  std::optional<Model> resend;
  if (!per_site || !task.model.tensors.empty()) resend = task.model;
  auto broadcast = std::make_shared<Broadcast>(reducer, targets, mark, std::move(resend));
  // Only a global this run wrote to global_model.pt is lent: round 0's initial model is not
  // written (a job that fails in round 0 leaves no global model), so round 0 and the first
  // round after a resume sum in an accumulator.
  const auto global = identities(global_);
  if (average && average->in_place() && !global.empty() && identities(task.model) == global && persisted_global_ == global)
    lend_global(*broadcast, *average);
  for (const auto& site : targets) {
    SiteTask own = per_site ? per_site(site) : SiteTask{};
    net::TaskHeader header;
    header.task_id = server_.next_task_id();
    header.job_id = job_.id;
    header.name = task.name;
    header.round = task.round;
    header.site_index = sites_.index(site);
    header.num_sites = static_cast<std::int64_t>(sites_.participants().size());
    header.meta = task.meta;
    header.meta.merge(own.meta);
    header.has_model = !own.model || !own.model->tensors.empty();
    header.epoch = setup_.epoch;
    std::optional<Model> model;
    if (header.has_model) model = own.model ? std::move(*own.model) : task.model;
    server_.send_task(site, std::move(header), std::move(model), broadcast->pending_for(site));
    fire(EventType::task_sent, task.round, site);
  }
  BroadcastOutcome outcome = broadcast->wait(options, [this] { return abort_requested(); });
  mark("server", "broadcast_ended");
  return outcome;
}

SendResult JobRunner::send(const Task& task, const std::string& site, const SendOptions& options) {
  Collect collect;
  BroadcastOptions broadcast_options;
  broadcast_options.timeout = options.timeout;
  broadcast_options.assignment_timeout = options.assignment_timeout;
  auto outcome = broadcast(task, {site}, collect, broadcast_options);
  SendResult result;
  if (!outcome.received.empty()) {
    result.ok = true;
    result.info = outcome.received.front();
    result.model = std::move(collect.model_);
    result.model.round = result.info.round;
    result.model.num_steps = result.info.num_steps;
    result.model.metrics = result.info.metrics;
  } else {
    result.error = outcome.failed.empty() ? "no result" : outcome.failed.front().reason;
  }
  return result;
}

void JobRunner::round_started(std::int64_t round) {
  recorder_->round_started(round);
  log_->info("round {}/{} started", round + 1, job_.num_rounds);
  fire(EventType::round_started, round);
}

void JobRunner::round_ended(std::int64_t round) {
  if (privacy_ && privacy_->take_round_steps() == 0)
    throw JobError("[privacy] is set, but round " + std::to_string(round + 1) + " averaged no result through the SDK's "
                   "WeightedAverage: controller '" + setup_.recipe.controller.plugin + "' aggregates in a way the server "
                   "cannot clip and noise");
  fire(EventType::round_ended, round);  // the periodic cleanup runs here, after persist
  std::optional<double> epsilon;
  if (privacy_) {
    epsilon = privacy_->epsilon();
    log_->info("round {}/{}: privacy spent ε = {:.6g}", round + 1, job_.num_rounds, *epsilon);
    if (auto why = privacy_->budget_reached_after(round)) stop_for_budget(*why);
  }
  const auto row = recorder_->round_ended(round, global_.byte_size(), epsilon);
  rounds_completed_ = round + 1;
  recorder_->set_rounds_completed(rounds_completed_);
  if (controller_->resumable()) save_resume_state(round);
  if (setup_.on_round) setup_.on_round(rounds_completed_);
  if (setup_.on_round_row) setup_.on_round_row(row);
}

void JobRunner::persist(const Model& model, std::string_view tag) {
  if (!lent_global_.empty() && identities(model) == lent_global_) {
    // The global lent to an average: its bytes are sums now, its file is the model.
    if (tag != "global") checkpoints_->link(directory_.artifact("global"), directory_.artifact(std::string(tag)));
    return;
  }
  if (tag == "global") persisted_global_ = identities(model);
  checkpoints_->write(model, directory_.artifact(std::string(tag)));
}

void JobRunner::restore(const jobs::ResumeState& state) {
  resume::restore(directory_, state, global_, *controller_, *checkpoints_);
  if (auto it = state.runner.find("rng"); it != state.runner.end()) {
    std::istringstream in(it->second);
    in >> rng_;
    if (!in) throw IoError(jobs::state_folder(directory_), "the site sampler's saved state is unreadable");
  }
  if (auto it = state.runner.find("privacy"); it != state.runner.end()) resumed_privacy_ = it->second;
  rounds_completed_ = state.round + 1;
  recorder_->set_rounds_completed(rounds_completed_);
}

void JobRunner::save_resume_state(std::int64_t round) {
  // The resume state names global_model.pt of this round: the controller persisted it, or
  // it is persisted here. Before round 0 the initial model is the seed's: not saved.
  if (round >= 0 && persisted_global_ != identities(global_)) persist(global_, "global");
  resume::Snapshot snapshot{round, setup_.epoch, controller_->save_state(round), {}, sites_.participants()};
  std::ostringstream rng;
  rng << rng_;
  snapshot.runner["rng"] = rng.str();
  if (privacy_) snapshot.runner["privacy"] = privacy_->save();
  resume::save(directory_, *checkpoints_, std::move(snapshot), log_);
}

void JobRunner::record_metrics(std::int64_t round, const std::string& site, const Metrics& metrics) {
  recorder_->record_metrics(round, site, metrics);
}

JobResult JobRunner::failure(jobs::JobState state, std::string message) {
  log_->error("job {}: {}", job_.id, message);
  JobResult result;
  result.state = state;
  result.message = std::move(message);
  return result;
}

void JobRunner::open_records() {
  checkpoints_ = std::make_unique<CheckpointWriter>(log_);
  const auto& mem = setup_.recipe.memory;
  auto monitor = setup_.monitor ? std::move(setup_.monitor)
                                : std::make_unique<hooks::MemoryMonitor>(
                                      directory_.memory_csv(setup_.process_name),
                                      hooks::MonitorSettings{mem.monitor_interval, mem.warn_percent,
                                                             mem.critical_percent, mem.cuda_empty_cache},
                                      log_);
  recorder_ = std::make_unique<RoundRecorder>(directory_, std::move(monitor), log_, job_.num_rounds);
  recorder_->set_counts_results(!setup_.recipe.client_controlled);  // else the sites gather the results
}

std::optional<JobResult> JobRunner::make_plugins() {
  // Built-in hooks first, then the recipe's.
  const auto& recipe = setup_.recipe;
  const std::int64_t gc_rounds = recipe.client_controlled ? 0 : recipe.memory.server_memory_gc_rounds;
  hooks_.add(std::make_shared<hooks::PeriodicCleanup>(Role::server, gc_rounds, recipe.memory.cuda_empty_cache));
  for (std::size_t i = 0; i < recipe.hooks.size(); ++i)
    hooks_.add(recipe.hook_plugins[i]->make_hook(PluginConfig{recipe.hooks[i].args, job_, recipe.model}));
  try {
    controller_ = recipe.controller_plugin->make_controller(PluginConfig{recipe.controller.args, job_, recipe.model});
  } catch (const std::exception& e) {
    return failure(jobs::JobState::execution_exception, e.what());
  }
  return std::nullopt;
}

std::optional<JobResult> JobRunner::resume(const std::optional<jobs::ResumeState>& resumed) {
  if (!controller_->resumable())
    return failure(jobs::JobState::abnormal, "the server stopped while the job was running, and its controller '" +
                                                 setup_.recipe.controller.plugin +
                                                 "' cannot resume (it implements no save_state/restore_state)");
  if (resumed) {
    try {
      restore(*resumed);
      if (setup_.on_round) setup_.on_round(rounds_completed_);  // the rounds it goes on from
    } catch (const std::exception& e) {
      return failure(jobs::JobState::abnormal, std::string("cannot resume: ") + e.what());
    }
  }
  log_->info("job {} RESUMED in epoch {}: {}", job_.id, setup_.epoch,
             resumed && resumed->round >= 0
                 ? "after round " + std::to_string(resumed->round + 1) + " of " + std::to_string(job_.num_rounds)
                 : std::string("from its start (no round had completed)"));
  return std::nullopt;
}

std::optional<JobResult> JobRunner::gather_sites(const std::optional<jobs::ResumeState>& resumed) {
  // The sites the recipe names (a resumed job's, those it had), or those connected once
  // min_clients are.
  server_.add_listener(this);
  const auto min_clients = static_cast<std::size_t>(job_.min_clients);
  const bool ready = sites_.gather(resumed ? resumed->participants : job_.sites, min_clients, setup_.start_timeout);
  if (abort_) return failure(jobs::JobState::aborted, abort_reason() + " before it started");
  if (!ready)
    return failure(jobs::JobState::can_not_schedule, "fewer than " + std::to_string(min_clients) +
                                                         " of its sites connected within " +
                                                         std::to_string(setup_.start_timeout.count() / 1000) + " s");
  return std::nullopt;
}

void JobRunner::announce_job(bool resumed) {
  read_app_files();
  sites_.start([this](const std::string& site) { announce(site); });  // each exactly once, here or at its join
  log_->info("job {} ('{}') started: {} with {} sites, {} rounds", job_.id, job_.name,
             setup_.recipe.controller.plugin, sites_.participants().size(), job_.num_rounds);
  // Its sites, for a resume before the first round ends.
  if (controller_->resumable() && !resumed) save_resume_state(-1);
  fire(EventType::job_started, -1);
}

void JobRunner::start_privacy() {
  if (!setup_.recipe.privacy.on()) return;
  privacy_ = std::make_unique<privacy::JobPrivacy>(setup_.recipe.privacy, sites_.participants().size(), job_.num_rounds,
                                                   directory_.root(), *log_);
  if (!resumed_privacy_.empty()) privacy_->restore(resumed_privacy_);
  log_->info("{}", privacy_->describe());
}

void JobRunner::stop_for_budget(std::string why) {
  if (budget_reached_) return;
  log_->info("{}: the job ends here", why);
  budget_message_ = std::move(why);
  budget_reached_ = true;
}

JobResult JobRunner::run_rounds() {
  JobResult result;
  try {
    start_privacy();
    if (model_from_site_ && global_.tensors.empty()) initial_model_from_site();
    controller_->run(*this);
    result.state = abort_ ? jobs::JobState::aborted : jobs::JobState::completed;
    if (abort_) result.message = abort_reason();
  } catch (const std::exception& e) {
    result.state = abort_ ? jobs::JobState::aborted : jobs::JobState::execution_exception;
    result.message = abort_ ? abort_reason() : e.what();
    if (!budget_reached_ || abort_) log_->error("job {} failed: {}", job_.id, e.what());
  }
  if (budget_reached_ && !abort_) {  // a controller may fail its round on the refused broadcast: not an error
    result.state = jobs::JobState::completed;
    result.message = budget_message_;
  }
  try {
    checkpoints_->flush();  // the job has ended only once its checkpoints are on disk
  } catch (const std::exception& e) {
    result = failure(jobs::JobState::execution_exception, std::string("checkpoint not written: ") + e.what());
  }
  return result;
}

void JobRunner::end_job(const JobResult& result) {
  fire(EventType::job_ended, -1);
  // The sites release the job's executor and monitor (a long-running client runs many jobs).
  for (const auto& site : sites_.participants()) server_.send(site, net::JobEnd{job_.id, std::string(jobs::to_string(result.state))});
  sites_.stop();  // nothing of this job fires after job_ended
  server_.remove_listener(this);
  log_->info("job {} ended {} after {:.1f} s{}{}", job_.id, std::string(jobs::to_string(result.state)), result.seconds,
             result.message.empty() ? "" : ": ", result.message);
  recorder_->close();
}

JobResult JobRunner::run() {
  const auto start = Clock::now();
  directory_.create();
  // A submitted job's recipe is there already (for one that carries files, a link into
  // app/): written once, never through the link.
  if (!std::filesystem::exists(directory_.recipe())) config::write_text_file(directory_.recipe(), setup_.recipe_text);
  std::optional<jobs::ResumeState> resumed;
  if (setup_.resume) {
    try {
      resumed = resume::read(directory_);  // before the records open: it cuts them back
    } catch (const std::exception& e) {
      return failure(jobs::JobState::abnormal, std::string("cannot resume: ") + e.what());
    }
  }
  open_records();
  if (auto failed = make_plugins()) return *failed;
  if (setup_.resume) {
    if (auto failed = resume(resumed)) return *failed;
  }
  if (auto failed = gather_sites(resumed)) return *failed;
  announce_job(resumed.has_value());
  JobResult result = run_rounds();
  result.rounds_completed = rounds_completed_;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  end_job(result);
  return result;
}

}  // namespace cohort::server
