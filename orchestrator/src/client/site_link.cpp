#include "client/site_link.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/logger.h>

namespace cohort::client {

SiteLink::SiteLink(ClientProcess& process, SiteIdentity identity)
    : process_(process),
      identity_(std::move(identity)),
      retry_timer_(process.io()),
      backoff_(process.options().reconnect_initial) {
  if (identity_.tls) tls_ = std::make_unique<boost::asio::ssl::context>(tls::make_client_context(*identity_.tls));
}

void SiteLink::start() {
  if (process_.options().open_link) {
    attach(process_.options().open_link(site()));
    return;
  }
  auto self = shared_from_this();
  boost::asio::co_spawn(process_.io(), connect(), [self](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      self->process_.log().warn("site '{}': cannot connect to {}:{}: {}", self->site(),
                                self->process_.options().server_host, self->process_.options().server_port,
                                error.what());
    }
    self->schedule_reconnect();
  });
}

boost::asio::awaitable<void> SiteLink::connect() {
  const auto& options = process_.options();
  net::tcp::resolver resolver(process_.io());
  auto endpoints = co_await resolver.async_resolve(options.server_host, std::to_string(options.server_port),
                                                   boost::asio::use_awaitable);
  net::tcp::socket socket(process_.io());
  co_await boost::asio::async_connect(socket, endpoints, boost::asio::use_awaitable);
  socket.set_option(net::tcp::no_delay(true));
  auto connection = std::make_shared<net::Connection>(process_.io(), std::move(socket), tls_.get(), false,
                                                      options.connection, process_.logger());
  connection->set_label(site() + "->" + options.server_host + ":" + std::to_string(options.server_port));
  attach(std::move(connection));
}

void SiteLink::attach(std::shared_ptr<net::Link> link) {
  net::Hello hello{net::kProtocolVersion, site(), process_.options().process_name, "cohort"};
  {
    std::lock_guard lock(mutex_);
    connection_ = link;
    welcomed_ = false;
    hello.held_tasks.assign(running_.begin(), running_.end());
    for (auto& [id, result] : outbox_) {
      result.queued = false;
      hello.held_tasks.push_back(id);
    }
  }
  link->start(shared_from_this());
  link->send(std::move(hello));
}

void SiteLink::hold_task(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  running_.insert(id);
}

void SiteLink::send_result(net::ResultHeader header, Model result, std::function<void()> settled) {
  const std::uint64_t id = header.task_id;
  std::shared_ptr<net::Link> connection;
  {
    std::lock_guard lock(mutex_);
    running_.erase(id);
    outbox_[id] = Outgoing{std::move(header), std::move(result), false, std::move(settled)};
    if (welcomed_) connection = connection_;
  }
  if (connection) {
    transmit(id, connection);
    return;
  }
  std::function<void()> kept;
  {
    std::lock_guard lock(mutex_);
    if (auto it = outbox_.find(id); it != outbox_.end()) kept = std::exchange(it->second.settled, {});
  }
  process_.log().info("site '{}': result of task {} kept until the server is reachable again", site(), id);
  if (kept) kept();
}

void SiteLink::transmit(std::uint64_t id, const std::shared_ptr<net::Link>& connection) {
  net::ResultHeader header;
  Model model;
  {
    std::lock_guard lock(mutex_);
    auto it = outbox_.find(id);
    if (it == outbox_.end() || it->second.queued) return;
    it->second.queued = true;
    header = it->second.header;
    if (header.has_model) model = it->second.model;
  }
  // Written (or kept, the connection having closed first): the worker goes on. The result
  // itself stays in the outbox until the server acknowledges it.
  auto done = [self = shared_from_this(), id](bool) {
    std::function<void()> settled;
    {
      std::lock_guard lock(self->mutex_);
      if (auto it = self->outbox_.find(id); it != self->outbox_.end()) settled = std::exchange(it->second.settled, {});
    }
    if (settled) settled();
  };
  if (header.has_model) connection->send(std::move(header), std::move(model), done);
  else connection->send(std::move(header), done);
}

void SiteLink::received(std::uint64_t id) {
  Outgoing dropped;  // released outside the lock
  {
    std::lock_guard lock(mutex_);
    if (auto it = outbox_.find(id); it != outbox_.end()) {
      dropped = std::move(it->second);
      outbox_.erase(it);
    }
  }
  // The acknowledgement can overtake the link's report that the result was written (MPI
  // tells of a send when it tests its request): the worker waits no longer either way.
  if (dropped.settled) dropped.settled();
}

void SiteLink::forget_job(const std::string& job_id) {
  std::vector<std::function<void()>> settled;
  {
    std::lock_guard lock(mutex_);
    for (auto it = outbox_.begin(); it != outbox_.end();) {
      if (it->second.header.job_id != job_id) {
        ++it;
        continue;
      }
      if (it->second.settled) settled.push_back(std::move(it->second.settled));
      it = outbox_.erase(it);
    }
  }
  for (auto& s : settled) s();
}

void SiteLink::log_scalar(const std::string& job_id, std::int64_t epoch, net::Scalar scalar) {
  if (scalars_.push(job_id, epoch, std::move(scalar), ScalarQueue::Clock::now())) send_scalars(false);
}

void SiteLink::flush_scalars() { send_scalars(true); }

void SiteLink::send_scalars(bool flush) {
  const auto link = connection();
  if (!link) return;
  while (auto batch = scalars_.take(ScalarQueue::Clock::now(), flush)) {
    const std::size_t count = batch->scalars.size();
    link->send(std::move(*batch), [self = shared_from_this(), count](bool) { self->scalars_.settled(count); });
  }
}

void SiteLink::schedule_reconnect() {
  if (process_.stopping() || final_refusal_) return;
  process_.log().info("site '{}': reconnecting in {} ms", site(), backoff_.count());
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, process_.options().reconnect_max);
  retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->process_.stopping()) self->start();
  });
}

void SiteLink::stop() {
  std::shared_ptr<net::Link> connection;
  {
    std::lock_guard lock(mutex_);
    connection = connection_;
  }
  boost::system::error_code ignored;
  retry_timer_.cancel();
  if (connection) connection->close("client stopping");
}

std::shared_ptr<net::Link> SiteLink::connection() {
  std::lock_guard lock(mutex_);
  return connection_;
}

net::Reception SiteLink::on_message(net::Link& connection, net::Message& message) {
  if (auto* welcome = std::get_if<net::Welcome>(&message)) {
    if (connection.secure() && connection.peer_name() != process_.options().server_name) {
      connection.close("the server presented the certificate of '" + connection.peer_name() + "', not of '" +
                       process_.options().server_name + "'");
      return {};
    }
    std::vector<std::uint64_t> kept;
    {
      std::lock_guard lock(mutex_);
      welcomed_ = true;
      for (const auto& [id, result] : outbox_) kept.push_back(id);
    }
    backoff_ = process_.options().reconnect_initial;
    connection.established();
    process_.log().info("site '{}': connected to server '{}' ({})", site(), welcome->server,
                        connection.security());
    if (!kept.empty())
      process_.log().info("site '{}': sending the {} result(s) kept while disconnected", site(), kept.size());
    for (auto id : kept) transmit(id, connection.share());
    return {};
  }
  if (auto* refuse = std::get_if<net::Refuse>(&message)) {
    // A refusal is about who we are or what we speak: retrying would not change it.
    process_.log().error("site '{}': the server refused the connection: {}", site(), refuse->reason);
    final_refusal_ = true;
    connection.close("refused by the server");
    process_.stop(1);
    return {};
  }
  if (!welcomed_) {
    connection.close(std::string("protocol error: ") + net::to_string(net::frame_type(message)) + " before WELCOME");
    return {};
  }
  if (auto* bye = std::get_if<net::Bye>(&message)) {
    process_.log().info("site '{}': the server said goodbye: {}", site(), bye->reason);
    if (bye->final && process_.options().exit_on_final_bye) process_.stop(0);
    connection.close("server said goodbye");
    return {};
  }
  if (auto* job = std::get_if<net::JobAnnounce>(&message)) {
    if (!job->has_model) {
      process_.announce(*job, nullptr);
      return {};
    }
    auto files = ClientProcess::new_task_model();
    process_.announce(*job, files);
    return net::Reception{ClientProcess::sink_for(files), false};
  }
  if (auto* received = std::get_if<net::ResultReceived>(&message)) {
    this->received(received->task_id);
    return {};
  }
  if (auto* end = std::get_if<net::JobEnd>(&message)) {
    process_.job_ended(*end);
    return {};
  }
  if (auto* deliver = std::get_if<net::Deliver>(&message)) {
    return process_.deliver(shared_from_this(), connection.share(), *deliver);
  }
  if (auto* task = std::get_if<net::TaskHeader>(&message)) {
    auto model = ClientProcess::new_task_model();
    process_.enqueue(shared_from_this(), connection.share(), *task, model);
    if (!task->has_model) return {};
    return net::Reception{ClientProcess::sink_for(model), true};
  }
  connection.close(std::string("protocol error: a server may not send ") + net::to_string(net::frame_type(message)));
  return {};
}

void SiteLink::on_closed(net::Link&, const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    connection_.reset();
    welcomed_ = false;
  }
  process_.link_closed();
  if (process_.stopping()) return;
  if (process_.options().open_link) {
    process_.log().error("site '{}': its link to the server closed: {}", site(), reason);
    process_.stop(1);
    return;
  }
  schedule_reconnect();
}

}  // namespace cohort::client
