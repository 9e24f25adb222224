#include "client/client_process.hpp"

#include "client/site_link.hpp"
#include "jobs/event_file.hpp"
#include "jobs/job_directory.hpp"
#include "memory/memory.hpp"
#include "privacy/job_privacy.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <optional>

#include <boost/asio/executor_work_guard.hpp>

namespace cohort::client {

using Clock = std::chrono::steady_clock;

/// A task's model, filled by the connection once the worker releases its hold.
struct ClientProcess::TaskModel {
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  bool ok = false;
  std::string error;
  Model model;
  /// Where the executor wants the model (set before the hold is released).
  std::shared_ptr<TensorPlacement> placement;
};

std::shared_ptr<ClientProcess::TaskModel> ClientProcess::new_task_model() { return std::make_shared<TaskModel>(); }

std::unique_ptr<ResultSink> ClientProcess::sink_for(std::shared_ptr<TaskModel> slot) {
  auto done = [slot](bool complete, Model model, const std::string& why) {
    std::lock_guard lock(slot->mutex);
    slot->finished = true;
    slot->ok = complete;
    slot->error = why;
    slot->model = std::move(model);
    slot->done.notify_all();
  };
  auto placement = [slot] {
    std::lock_guard lock(slot->mutex);
    return slot->placement;
  };
  return std::make_unique<ModelBuilder>(done, placement);
}

ClientProcess::ClientProcess(ClientOptions options, std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), log_(std::move(log)) {
  for (const auto& identity : options_.sites) links_.push_back(std::make_shared<SiteLink>(*this, identity));
}

ClientProcess::~ClientProcess() {
  stop();
  if (worker_.joinable()) worker_.join();
  workflows_.clear();  // before the jobs they refer to
}

int ClientProcess::run() {
  worker_ = std::thread([this] { worker_loop(); });
  auto guard = boost::asio::make_work_guard(io_);
  for (auto& link : links_) link->start();
  if (options_.open_link)
    log_->info("client '{}' hosts {} site(s)", options_.process_name, links_.size());
  else
    log_->info("client '{}' hosts {} site(s), server {}:{}", options_.process_name, links_.size(),
               options_.server_host, options_.server_port);
  std::thread stopper([this, &guard] {
    std::unique_lock lock(mutex_);
    work_ready_.wait(lock, [this] { return stopping_.load(); });
    lock.unlock();
    boost::asio::post(io_, [this] {
      for (auto& link : links_) link->stop();
    });
    guard.reset();
    // Once every link has closed, timers still pending (a workflow's timeout, status
    // reports) must not keep the process alive.
    std::unique_lock closing(mutex_);
    links_closed_.wait_for(closing, std::chrono::seconds(2), [this] {
      return std::none_of(links_.begin(), links_.end(), [](const auto& link) { return link->connection() != nullptr; });
    });
    closing.unlock();
    io_.stop();
  });
  io_.run();
  stopper.join();
  if (worker_.joinable()) worker_.join();
  return status_.load();
}

void ClientProcess::link_closed() {
  { std::lock_guard lock(mutex_); }  // a waiter between its check and its wait sees this
  links_closed_.notify_all();
}

void ClientProcess::stop(int status) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    status_ = status;
    stopping_ = true;
  }
  work_ready_.notify_all();
}

void ClientProcess::announce(const net::JobAnnounce& job, std::shared_ptr<TaskModel> files) {
  post_work([this, job, files] { prepare_job(job, files); });
}

void ClientProcess::job_ended(const net::JobEnd& end) {
  for (auto& link : links_) link->forget_job(end.job_id);
  post_work([this, end] {
    std::unique_ptr<ClientJob> job;
    std::vector<std::unique_ptr<SiteWorkflowHost>> workflows;
    {
      std::lock_guard lock(jobs_mutex_);
      for (auto it = workflows_.begin(); it != workflows_.end();) {
        if (it->first.first == end.job_id) {
          workflows.push_back(std::move(it->second));
          it = workflows_.erase(it);
        } else {
          ++it;
        }
      }
      unprepared_.erase(end.job_id);
      auto it = jobs_.find(end.job_id);
      if (it == jobs_.end()) return;  // every site of this process hears it: once is enough
      job = std::move(it->second);
      jobs_.erase(it);
    }
    workflows.clear();
    job.reset();
    log_->info("job {} ended {}: its executor and monitor are released", end.job_id, end.status);
  });
}

void ClientProcess::enqueue(std::shared_ptr<SiteLink> link, std::shared_ptr<net::Link> connection,
                            net::TaskHeader header, std::shared_ptr<TaskModel> model) {
  std::lock_guard lock(mutex_);
  work_.push_back({[this, link, connection, header, model] { run_task(*link, *connection, header, model); }});
  work_ready_.notify_all();
}

void ClientProcess::worker_loop() {
  while (true) {
    WorkItem item;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !work_.empty(); });
      if (stopping_) return;
      item = std::move(work_.front());
      work_.pop_front();
    }
    item.run();
  }
}

namespace {

/// Writes a job's files (one uint8 tensor per file, named by its path) into its app/
/// folder; returns where its recipe is among them.
std::filesystem::path write_app(const jobs::JobDirectory& directory, const Model& files,
                                const std::string& recipe_path) {
  for (const auto& [path, bytes] : files.tensors) {
    if (bytes.scalar_type() != at::kByte || bytes.dim() != 1)
      throw ProtocolError("the server", "job file '" + path + "' did not arrive as bytes");
    const auto* data = static_cast<const char*>(bytes.data_ptr());
    directory.write_app_file({path, data ? std::string(data, static_cast<std::size_t>(bytes.numel())) : ""});
  }
  return directory.app() / jobs::app_path(recipe_path);
}

}  // namespace

bool ClientProcess::await(TaskModel& slot) {
  std::unique_lock lock(slot.mutex);
  slot.done.wait(lock, [&] { return slot.finished || stopping_.load(); });
  return slot.finished && slot.ok;
}

void ClientProcess::prepare_job(const net::JobAnnounce& job, const std::shared_ptr<TaskModel>& files) {
  if (files && !await(*files)) {  // the connection closed: it is announced again on reconnect
    log_->warn("job {}: its files did not arrive: {}", job.job_id, files->error);
    return;
  }
  if (ClientJob* known = find_job(job.job_id)) {
    // Announced again after a reconnect, or to another site here; a new epoch means the
    // server restarted and resumed the job: the sites' workflows drop what they had under
    // way (they start over from the server's next message).
    if (job.epoch > known->epoch()) {
      log_->info("job {}: resumed by the server in epoch {} (was {})", job.job_id, job.epoch, known->epoch());
      known->set_epoch(job.epoch);
      std::vector<SiteWorkflowHost*> hosts;
      {
        std::lock_guard lock(jobs_mutex_);
        for (auto& [key, host] : workflows_)
          if (key.first == job.job_id) hosts.push_back(host.get());
      }
      for (auto* host : hosts) host->workflow().on_job_resumed(*host);
    }
    return;
  }
  try {
    std::filesystem::path recipe_path = job.recipe_path;
    if (files) {
      if (!options_.accept_job_code)
        throw std::runtime_error("this client does not run jobs that carry code (its kit sets accept_job_code = false)");
      recipe_path = write_app(jobs::JobDirectory(options_.workspace, job.job_id), files->model, job.recipe_path);
    }
    auto prepared = std::make_unique<ClientJob>(job.job_id, recipe_path, job.recipe_text, job.sites,
                                                options_.plugin_dirs, options_.workspace, options_.process_name, log_);
    prepared->set_epoch(job.epoch);
    std::lock_guard lock(jobs_mutex_);
    jobs_[job.job_id] = std::move(prepared);
    unprepared_.erase(job.job_id);
  } catch (const std::exception& e) {
    log_->error("job {}: cannot prepare it here: {}", job.job_id, e.what());
    std::lock_guard lock(jobs_mutex_);
    unprepared_[job.job_id] = e.what();
  }
}

ClientJob* ClientProcess::find_job(const std::string& job_id) {
  std::lock_guard lock(jobs_mutex_);
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

SiteWorkflowHost* ClientProcess::workflow_host(ClientJob& job, const std::shared_ptr<SiteLink>& link) {
  std::lock_guard lock(jobs_mutex_);
  auto key = std::make_pair(job.info().id, link->site());
  auto it = workflows_.find(key);
  if (it != workflows_.end()) return it->second.get();
  auto workflow = job.make_site_workflow();
  if (!workflow) return nullptr;
  auto host = std::make_unique<SiteWorkflowHost>(*this, job, link, std::move(workflow));
  return workflows_.emplace(key, std::move(host)).first->second.get();
}

void ClientProcess::post_work(std::function<void()> work) {
  std::lock_guard lock(mutex_);
  work_.push_back({std::move(work)});
  work_ready_.notify_all();
}

namespace {

/// Tells the site workflow, on its thread, that a stream it opened ended.
class NotifyingSink final : public ResultSink {
 public:
  NotifyingSink(std::unique_ptr<ResultSink> inner, std::function<void(bool)> done)
      : inner_(std::move(inner)), done_(std::move(done)) {}
  ~NotifyingSink() override {
    if (!finished_) done_(false);
  }
  void begin_model(std::uint32_t n, std::uint64_t b) override { inner_->begin_model(n, b); }
  void begin_tensor(const TensorInfo& t) override { inner_->begin_tensor(t); }
  std::span<std::byte> chunk_destination(std::uint64_t o, std::size_t n) override { return inner_->chunk_destination(o, n); }
  void chunk_received(std::uint64_t o, std::span<const std::byte> d) override { inner_->chunk_received(o, d); }
  void end_tensor() override { inner_->end_tensor(); }
  void commit() override {
    inner_->commit();
    finished_ = true;
    done_(true);
  }
  void abandon(const std::string& reason) override {
    inner_->abandon(reason);
    finished_ = true;
    done_(false);
  }

 private:
  std::unique_ptr<ResultSink> inner_;
  std::function<void(bool)> done_;
  bool finished_ = false;
};

}  // namespace

net::Reception ClientProcess::deliver(std::shared_ptr<SiteLink> link, std::shared_ptr<net::Link> connection,
                                      const net::Deliver& d) {
  const SiteMessage& message = d.message;
  const std::string job_id = d.job_id;
  const std::int64_t epoch = d.epoch;
  // The workflow, when its job is prepared already; else everything waits for the worker.
  ClientJob* job = find_job(job_id);
  if (job && epoch < job->epoch()) {
    log_->warn("site '{}': message '{}' from job epoch {}, the job is in epoch {}: dropped", link->site(), message.name,
               epoch, job->epoch());
    return {};
  }
  SiteWorkflowHost* host = job ? workflow_host(*job, link) : nullptr;
  if (d.has_model && host) {
    if (auto sink = host->workflow().open_stream(message)) {
      auto done = [this, host, message](bool complete) {
        post_work([host, message, complete] { host->workflow().on_stream_done(message, complete, *host); });
      };
      return net::Reception{std::make_unique<NotifyingSink>(std::move(sink), done), false};
    }
  }
  std::shared_ptr<TaskModel> slot = d.has_model ? new_task_model() : nullptr;
  post_work([this, link, connection, message, job_id, epoch, slot] {
    Model model;
    if (slot) {
      connection->release_hold();
      if (!await(*slot)) {
        log_->warn("site '{}': message '{}' dropped: {}", link->site(), message.name,
                   stopping_ ? std::string("client stopping") : slot->error);
        return;
      }
      model = std::move(slot->model);
    }
    ClientJob* job = find_job(job_id);
    if (job && epoch < job->epoch()) {
      log_->warn("site '{}': message '{}' from job epoch {}, the job is in epoch {}: dropped", link->site(),
                 message.name, epoch, job->epoch());
      return;
    }
    SiteWorkflowHost* host = job ? workflow_host(*job, link) : nullptr;
    if (!host) {
      log_->error("site '{}': message '{}' for job {}, which has no site workflow here: dropped", link->site(),
                  message.name, job_id);
      return;
    }
    try {
      host->workflow().on_message(message, std::move(model), *host);
    } catch (const std::exception& e) {
      job->log().error("site '{}': the workflow failed on '{}': {}", link->site(), message.name, e.what());
    }
  });
  if (!slot) return {};
  return net::Reception{sink_for(slot), true};
}

void ClientProcess::run_task(SiteLink& link, net::Link& connection, const net::TaskHeader& header,
                             const std::shared_ptr<TaskModel>& slot) {
  ClientJob* job = find_job(header.job_id);
  if (job && header.epoch < job->epoch()) {
    // A task of the job before the server resumed it: its result would be dropped anyway.
    log_->warn("site '{}': task {} of job {} from epoch {}, the job is in epoch {}: dropped", link.site(),
               header.task_id, header.job_id, header.epoch, job->epoch());
    if (header.has_model) {
      connection.release_hold();
      await(*slot);
    }
    return;
  }
  std::optional<SiteExecutorContext> ctx;
  if (job) ctx.emplace(link.site(), header.site_index, header.num_sites, *job, [this] { return stopping_.load(); }, link);
  connection.send(net::TaskAccepted{header.task_id});  // this site takes the task now
  Task task{header.name, header.round, {}, header.meta};
  if (header.has_model) {
    auto model = receive_model(link, connection, header, job ? &job->executor() : nullptr, ctx, slot);
    // Not whole: the server sends it again if this site reconnects in time (it does not hold it).
    if (!model) return;
    task.model = std::move(*model);
  }
  link.hold_task(header.task_id);

  net::ResultHeader result_header;
  result_header.task_id = header.task_id;
  result_header.job_id = header.job_id;
  result_header.round = header.round;
  result_header.epoch = header.epoch;
  const auto start = Clock::now();
  Model result = execute(link, job, ctx, std::move(task), result_header);
  result.metrics["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  if (job) track_memory(link, *job, header.round);
  link.flush_scalars();  // what the task logged goes before its result
  result_header.num_steps = result.num_steps;
  result_header.metrics = result.metrics;
  result_header.has_model = result_header.ok && !result.tensors.empty();
  send_result(link, std::move(result_header), std::move(result));
  if (job) job->task_done(header.round, link.site());
}

std::optional<Model> ClientProcess::receive_model(SiteLink& link, net::Link& connection, const net::TaskHeader& header,
                                                  Executor* executor, std::optional<SiteExecutorContext>& ctx,
                                                  const std::shared_ptr<TaskModel>& slot) {
  // Our turn: let the model in from the socket, straight into fresh tensors, or where the
  // executor wants it.
  if (executor) {
    try {
      auto placement = executor->model_placement(*ctx);
      std::lock_guard lock(slot->mutex);
      slot->placement = std::move(placement);
    } catch (const std::exception& e) {
      ctx->log().error("site '{}': the executor has no memory for the task's model: {}", link.site(), error_message(e));
    }
  }
  connection.release_hold();
  if (!await(*slot)) {
    log_->warn("site '{}': task {} dropped: {}", link.site(), header.task_id,
               stopping_ ? std::string("client stopping") : slot->error);
    return std::nullopt;
  }
  return std::move(slot->model);
}

Model ClientProcess::execute(SiteLink& link, ClientJob* job, std::optional<SiteExecutorContext>& ctx, Task task,
                             net::ResultHeader& result_header) {
  Model result;
  if (!job) {
    result_header.ok = false;
    std::lock_guard lock(jobs_mutex_);
    const auto why = unprepared_.find(result_header.job_id);
    result_header.error = "cannot run job " + result_header.job_id + " here: " +
                          (why == unprepared_.end() ? "it was not announced here" : why->second);
    return result;
  }
  job->references().received = task.model;  // a reference, not a copy
  const std::string name = task.name;
  const secagg::RoundContext secure_round{job->info().id, job->epoch(), task.round};
  // [privacy] at the site: the update is clipped (and, in local mode, noised) against the
  // model the task brought, copied as it arrived (an executor may train it in place).
  // [secure_aggregation] measures the update against the same copy, then masks it.
  const auto meta = task.meta;
  const bool masks = job->secure() && SecureSites::masks(meta);
  const Model* started_from =
      privacy::site_privacy_asked(meta) || masks ? &job->privacy_reference().copy_of(task.model) : nullptr;
  try {
    if (secagg::is_stage_task(name)) {
      if (!job->secure()) throw std::invalid_argument("the job's recipe has no [secure_aggregation]");
      result = job->secure()->answer(link.site(), secure_round, task);
    } else {
      result = job->executor().execute(std::move(task), *ctx);
      if (privacy::site_privacy_asked(meta)) privacy::apply_site_privacy(result, *started_from, meta, ctx->site_index());
      if (masks) result = job->secure()->mask(link.site(), secure_round, meta, result, *started_from);
    }
  } catch (const std::exception& e) {
    result_header.ok = false;
    result_header.error = "executor failed: " + error_message(e);
    job->log().error("site '{}': round {} task '{}' failed: {}", link.site(), result_header.round, name,
                     error_message(e));
  }
  job->references().sent = result;
  return result;
}

void ClientProcess::track_memory(SiteLink& link, const ClientJob& job, std::int64_t round) {
  // The memory of the process that hosts the site, and of the processes it started (a
  // site's Python script), as the site's scalars: the job's tracking/ holds every
  // process's, a step per round.
  const double now = jobs::wall_time_now();
  link.log_scalar(job.info().id, job.epoch(),
                  net::Scalar{"memory/client_rss_mb", round, memory::mib(memory::process_memory().rss_bytes), now});
  link.log_scalar(job.info().id, job.epoch(),
                  net::Scalar{"memory/client_children_rss_mb", round, memory::mib(memory::children_rss_bytes()), now});
}

void ClientProcess::send_result(SiteLink& link, net::ResultHeader header, Model result) {
  // Send (on the site's connection of the moment), then wait until the bytes are on the
  // wire, or kept for a reconnect: the link drops its reference to the result once the
  // server has it whole; the reference release hook (round_ended, fired by task_done)
  // drops the job's.
  auto sent = std::make_shared<TaskModel>();
  auto settled = [sent] {
    std::lock_guard lock(sent->mutex);
    sent->finished = true;
    sent->done.notify_all();
  };
  link.send_result(std::move(header), std::move(result), settled);
  std::unique_lock lock(sent->mutex);
  sent->done.wait(lock, [&] { return sent->finished || stopping_.load(); });
}

std::vector<std::string> ClientProcess::connected_sites() const {
  std::vector<std::string> sites;
  for (const auto& link : links_) {
    if (link->connection()) sites.push_back(link->site());
  }
  return sites;
}

}  // namespace cohort::client
