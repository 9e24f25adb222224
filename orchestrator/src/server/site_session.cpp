#include "server/site_session.hpp"

#include "server/server.hpp"

#include <spdlog/logger.h>

namespace cohort::server {

SiteSession::SiteSession(Server& server, std::shared_ptr<net::Link> connection)
    : server_(server), connection_(std::move(connection)) {}

void SiteSession::refuse(const std::string& reason) {
  server_.log().warn("{}: refused: {}", connection_->remote(), reason);
  connection_->send_and_close(net::Refuse{reason}, "refused: " + reason);
}

net::Reception SiteSession::on_message(net::Link&, net::Message& message) {
  if (site_.empty()) {
    const auto* hello = std::get_if<net::Hello>(&message);
    if (!hello) {
      connection_->close("protocol error: expected HELLO first");
      return {};
    }
    return on_hello(*hello);
  }
  if (auto* result = std::get_if<net::ResultHeader>(&message)) return on_result(*result);
  if (auto* relay = std::get_if<net::Relay>(&message)) return server_.relay(*this, *relay);
  if (auto* report = std::get_if<net::Report>(&message)) return server_.report(site_, *report);
  if (auto* scalars = std::get_if<net::Scalars>(&message)) {
    server_.scalars(site_, *scalars);
    return {};
  }
  if (auto* accepted = std::get_if<net::TaskAccepted>(&message)) {
    std::shared_ptr<PendingTask> pending;
    {
      std::lock_guard lock(mutex_);
      auto it = pending_.find(accepted->task_id);
      if (it != pending_.end()) pending = it->second.task;
    }
    if (pending) pending->on_accepted();
    return {};
  }
  if (std::holds_alternative<net::Bye>(message)) {
    connection_->close("site said goodbye: " + std::get<net::Bye>(message).reason);
    return {};
  }
  connection_->close(std::string("protocol error: a site may not send ") + net::to_string(net::frame_type(message)));
  return {};
}

net::Reception SiteSession::on_hello(const net::Hello& hello) {
  if (hello.version != net::kProtocolVersion) {
    refuse("protocol version " + std::to_string(hello.version) + " is not supported: this server speaks version " +
           std::to_string(net::kProtocolVersion));
    return {};
  }
  if (hello.site.empty()) {
    refuse("HELLO names no site");
    return {};
  }
  if (connection_->secure() && connection_->peer_name() != hello.site) {
    refuse("site '" + hello.site + "' presented the certificate of '" + connection_->peer_name() + "'");
    return {};
  }
  const auto& known = server_.options().known_sites;
  if (!known.empty() && !known.count(hello.site)) {
    refuse("site '" + hello.site + "' is not a participant of this project");
    return {};
  }
  site_ = hello.site;
  held_.insert(hello.held_tasks.begin(), hello.held_tasks.end());
  connection_->set_label(site_ + "@" + connection_->remote());
  // WELCOME goes into the write queue before the site becomes visible to jobs: whatever a
  // job sends it next (JOB, TASK) is queued behind it.
  connection_->established();
  connection_->send(net::Welcome{net::kProtocolVersion, server_.options().name,
                                 static_cast<std::uint32_t>(server_.options().connection.timing.heartbeat_interval.count())});
  if (std::string error = server_.register_site(shared_from_this()); !error.empty()) {
    connection_->send_and_close(net::Bye{error, false}, error);
    site_.clear();
    return {};
  }
  server_.log().info("site '{}' joined from {} (process '{}', {})", site_, connection_->remote(), hello.process,
                     connection_->security());
  return {};
}

void TaskInFlight::fail(const std::string& site, const std::string& reason) {
  if (result) {
    // Its inner sink tells the task (a Broadcast's fails the site, "result cut off").
    if (!result->finished()) result->abandon(reason);
    return;
  }
  task->on_failure(site, reason);
}

net::Reception SiteSession::on_result(net::ResultHeader& header) {
  const std::uint64_t id = header.task_id;
  // Whatever comes of the result, once it is read the site need not keep it.
  auto acknowledge = [link = std::weak_ptr<net::Link>(connection_), id] {
    if (auto l = link.lock()) l->send(net::ResultReceived{id});
  };
  std::unique_lock lock(mutex_);
  auto it = pending_.find(id);
  if (it == pending_.end() || (it->second.result && it->second.result->finished())) {
    if (it != pending_.end()) pending_.erase(it);
    lock.unlock();
    server_.log().warn("site '{}': result for task {}, which is not in flight: dropped", site_, id);
    acknowledge();
    return {};
  }
  TaskInFlight& entry = it->second;
  if (header.epoch != entry.header.epoch || !header.ok) {
    TaskInFlight failed = std::move(entry);
    pending_.erase(it);
    lock.unlock();
    acknowledge();
    if (!header.ok) {
      failed.fail(site_, header.error.empty() ? "the executor failed" : header.error);
      return {};
    }
    // Never folded: a result of the job before the server restarted.
    server_.log().warn("site '{}': result for task {} of job epoch {}, the task's is {}: dropped", site_, id,
                       header.epoch, failed.header.epoch);
    failed.fail(site_, "its result came from job epoch " + std::to_string(header.epoch));
    return {};
  }
  // A stream that ends with its link closed is kept for the site to send again.
  auto link_closed = [link = std::weak_ptr<net::Link>(connection_)] {
    auto l = link.lock();
    return !l || l->closed();
  };
  if (entry.result) {
    // Sent again after a reconnect: it goes on where the previous stream stopped.
    server_.log().info("site '{}': result for task {} sent again; {} tensors of it had arrived", site_, id,
                       entry.result->tensors_done());
    return net::Reception{entry.result->attach(link_closed, acknowledge), false};
  }
  ResultInfo info{site_, header.round, header.num_steps, std::move(header.metrics)};
  auto sink = entry.task->on_result(info, header.has_model);
  if (!header.has_model || !sink) {
    // Complete without a model; or late (the round is over): its stream is read and dropped.
    pending_.erase(it);
    lock.unlock();
    acknowledge();
    return {};
  }
  entry.result = std::make_shared<ResumableResult>(std::move(sink));
  return net::Reception{entry.result->attach(link_closed, acknowledge), false};
}

void SiteSession::send_task(net::TaskHeader header, std::optional<Model> model, std::shared_ptr<PendingTask> pending) {
  const std::uint64_t id = header.task_id;
  {
    std::lock_guard lock(mutex_);
    // Results that ended leave their entries behind: drop them here.
    std::erase_if(pending_, [](const auto& entry) { return entry.second.result && entry.second.result->finished(); });
    pending_[id] = TaskInFlight{pending, header, nullptr};
  }
  // Not written means the link closed first: its close hands the task on (Server).
  auto on_written = [pending](bool written) {
    if (written) pending->on_sent();
  };
  if (model) connection_->send(std::move(header), std::move(*model), on_written);
  else connection_->send(std::move(header), on_written);
}

TasksInFlight SiteSession::take_tasks() {
  TasksInFlight tasks;
  std::lock_guard lock(mutex_);
  tasks.swap(pending_);
  std::erase_if(tasks, [](const auto& entry) { return entry.second.result && entry.second.result->finished(); });
  return tasks;
}

void SiteSession::adopt(TasksInFlight tasks) {
  for (auto& [id, task] : tasks) {
    if (held_.count(id)) {
      std::lock_guard lock(mutex_);
      pending_[id] = std::move(task);
      continue;
    }
    if (task.result) {
      task.fail(site_, "it came back without the result it was sending");
      continue;
    }
    std::optional<Model> model;
    if (task.header.has_model) {
      model = task.task->model_for_resend();
      if (!model) {
        task.fail(site_, "it came back after its task was given up on");
        continue;
      }
    }
    server_.log().info("site '{}': task {} ('{}', round {}) sent again", site_, id, task.header.name,
                       task.header.round);
    send_task(task.header, std::move(model), task.task);
  }
}

void SiteSession::on_closed(net::Link&, const std::string& reason) { server_.unregister_site(this, reason); }

}  // namespace cohort::server
