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

net::Reception SiteSession::on_result(net::ResultHeader& header) {
  std::shared_ptr<PendingTask> pending;
  std::int64_t epoch = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(header.task_id);
    if (it != pending_.end()) {
      pending = std::move(it->second.task);
      epoch = it->second.epoch;
      pending_.erase(it);
    }
  }
  if (!pending) {
    server_.log().warn("site '{}': result for task {}, which is not in flight: dropped", site_, header.task_id);
    return {};
  }
  if (header.epoch != epoch) {
    // Never folded: a result of the job before the server restarted.
    server_.log().warn("site '{}': result for task {} of job epoch {}, the task's is {}: dropped", site_,
                       header.task_id, header.epoch, epoch);
    pending->on_failure(site_, "its result came from job epoch " + std::to_string(header.epoch));
    return {};
  }
  if (!header.ok) {
    pending->on_failure(site_, header.error.empty() ? "the executor failed" : header.error);
    return {};
  }
  ResultInfo info{site_, header.round, header.num_steps, std::move(header.metrics)};
  return net::Reception{pending->on_result(info, header.has_model), false};
}

void SiteSession::send_task(net::TaskHeader header, std::optional<Model> model, std::shared_ptr<PendingTask> pending) {
  const std::uint64_t id = header.task_id;
  {
    std::lock_guard lock(mutex_);
    pending_[id] = InFlight{pending, header.epoch};
  }
  auto self = shared_from_this();
  auto on_written = [self, id, pending](bool written) {
    if (written) {
      pending->on_sent();
      return;
    }
    std::shared_ptr<PendingTask> failed;
    {
      std::lock_guard lock(self->mutex_);
      auto it = self->pending_.find(id);
      if (it == self->pending_.end()) return;
      failed = std::move(it->second.task);
      self->pending_.erase(it);
    }
    failed->on_failure(self->site_, "the task could not be sent: connection closed");
  };
  if (model) connection_->send(std::move(header), std::move(*model), on_written);
  else connection_->send(std::move(header), on_written);
}

void SiteSession::fail_all(const std::string& reason) {
  std::map<std::uint64_t, InFlight> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(pending_);
  }
  for (auto& [id, task] : pending) task.task->on_failure(site_, reason);
}

void SiteSession::on_closed(net::Link&, const std::string& reason) {
  server_.unregister_site(this, reason);
  fail_all("site lost: " + reason);
}

}  // namespace cohort::server
