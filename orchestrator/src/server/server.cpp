#include "server/server.hpp"

#include "server/relay_sink.hpp"
#include "server/site_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <sstream>

namespace cohort::server {

Server::Server(ServerOptions options, std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), log_(std::move(log)) {
  if (options_.tls) tls_ = std::make_unique<boost::asio::ssl::context>(tls::make_server_context(*options_.tls));
}

Server::~Server() {
  if (!threads_.empty()) stop("server shutting down", true);
}

void Server::start() {
  if (!options_.listen) {
    log_->info("server '{}' started; its sites come over another transport", options_.name);
    keep_running_.emplace(io_.get_executor());
    for (int i = 0; i < std::max(1, options_.io_threads); ++i) threads_.emplace_back([this] { io_.run(); });
    return;
  }
  net::tcp::endpoint endpoint(boost::asio::ip::make_address(options_.host), options_.port);
  acceptor_ = std::make_unique<net::tcp::acceptor>(io_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(net::tcp::acceptor::reuse_address(true));
  acceptor_->bind(endpoint);
  acceptor_->listen(boost::asio::socket_base::max_listen_connections);
  port_ = acceptor_->local_endpoint().port();
  log_->info("server '{}' listening on {}:{} ({})", options_.name, options_.host, port_,
             tls_ ? "mutual TLS" : "plain TCP, --insecure");
  boost::asio::co_spawn(io_, accept_loop(), [log = log_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      log->error("accept loop ended: {}", error.what());
    }
  });
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) threads_.emplace_back([this] { io_.run(); });
}

boost::asio::awaitable<void> Server::accept_loop() {
  while (acceptor_->is_open()) {
    net::tcp::socket socket(io_);
    boost::system::error_code ec;
    co_await acceptor_->async_accept(socket, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec == boost::asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: say so, and keep serving the sites we have.
      log_->warn("accept failed: {}", ec.message());
      continue;
    }
    attach(std::make_shared<net::Connection>(io_, std::move(socket), tls_.get(), true, options_.connection, log_));
  }
}

void Server::attach(std::shared_ptr<net::Link> link) {
  auto session = std::make_shared<SiteSession>(*this, link);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      link->close("server shutting down");
      return;
    }
    sessions_.insert(session);
  }
  link->start(session);
}

std::string Server::register_site(const std::shared_ptr<SiteSession>& session) {
  const std::string& site = session->site();
  std::shared_ptr<SiteSession> replaced;
  std::vector<SiteListener*> listeners;
  TasksInFlight tasks;
  bool returned = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return "server shutting down";
    auto& slot = sites_[site];
    replaced = slot;
    slot = session;
    if (auto away = away_.find(site); away != away_.end()) {
      tasks = std::move(away->second.tasks);
      away->second.timer->cancel();
      away_.erase(away);
      returned = true;
    }
    listeners = listeners_;
  }
  if (replaced) {
    log_->info("site '{}' reconnected: closing its previous connection", site);
    tasks.merge(replaced->take_tasks());
    replaced->connection().close("replaced by a new connection of the same site");
    returned = true;
  }
  if (returned && !tasks.empty())
    log_->info("site '{}' is back with {} task(s) in flight: it goes on with those it holds, the others are sent again",
               site, tasks.size());
  sites_changed_.notify_all();
  // The jobs announce themselves first: what is sent again comes after.
  for (auto* l : listeners) returned ? l->site_returned(site) : l->site_joined(site);
  session->adopt(std::move(tasks));
  return {};
}

void Server::unregister_site(SiteSession* session, const std::string& reason) {
  std::vector<SiteListener*> listeners;
  TasksInFlight tasks = session->take_tasks();
  bool was_current = false;
  {
    std::lock_guard lock(mutex_);
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->get() == session) {
        sessions_.erase(it);
        break;
      }
    }
    auto it = sites_.find(session->site());
    if (it != sites_.end() && it->second.get() == session) {
      sites_.erase(it);
      was_current = true;
      if (options_.reconnect_grace.count() > 0 && !stopping_) {
        // Within the grace period the site is away, not lost: its tasks wait for it.
        Away& away = away_[session->site()];
        away.id = ++away_ids_;
        away.reason = reason;
        away.tasks = std::move(tasks);
        away.timer = std::make_unique<boost::asio::steady_timer>(io_, options_.reconnect_grace);
        away.timer->async_wait([this, site = session->site(), id = away.id](const boost::system::error_code& ec) {
          if (!ec) grace_over(site, id);
        });
        log_->info("site '{}' is away: {}; its {} task(s) in flight wait {} s for it to come back", session->site(),
                   reason, away.tasks.size(), options_.reconnect_grace.count() / 1000.0);
        return;
      }
    }
    listeners = listeners_;
  }
  for (auto& [id, task] : tasks) task.fail(session->site(), "site lost: " + reason);
  if (!was_current) return;
  log_->info("site '{}' lost: {}", session->site(), reason);
  sites_changed_.notify_all();
  for (auto* l : listeners) l->site_lost(session->site(), reason);
}

void Server::grace_over(const std::string& site, std::uint64_t away_id) {
  Away away;
  std::vector<SiteListener*> listeners;
  {
    std::lock_guard lock(mutex_);
    auto it = away_.find(site);
    if (it == away_.end() || it->second.id != away_id) return;  // back meanwhile
    away = std::move(it->second);
    away_.erase(it);
    listeners = listeners_;
  }
  std::ostringstream reason;
  reason << away.reason << ", and it did not come back within " << options_.reconnect_grace.count() / 1000.0 << " s";
  for (auto& [id, task] : away.tasks) task.fail(site, "site lost: " + reason.str());
  log_->info("site '{}' lost: {}", site, reason.str());
  sites_changed_.notify_all();
  for (auto* l : listeners) l->site_lost(site, reason.str());
}

std::vector<std::string> Server::present_sites() const {
  std::vector<std::string> names;
  for (const auto& [name, session] : sites_) names.push_back(name);
  for (const auto& [name, away] : away_)
    if (!sites_.count(name)) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

void Server::stop(const std::string& reason, bool final) {
  std::vector<std::shared_ptr<SiteSession>> sessions;
  std::map<std::string, Away> away;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    sessions.assign(sessions_.begin(), sessions_.end());
    for (auto& [site, away] : away_) away.timer->cancel();
    away.swap(away_);
  }
  for (auto& [site, gone] : away)
    for (auto& [id, task] : gone.tasks) task.fail(site, "server shutting down");
  boost::system::error_code ignored;
  if (acceptor_) {
    boost::asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
  }
  for (auto& s : sessions) s->connection().send_and_close(net::Bye{reason, final}, reason);
  // Give the goodbyes a moment to leave, then stop the I/O threads.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      if (sessions_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::vector<std::string> Server::connected_sites() const {
  std::lock_guard lock(mutex_);
  return present_sites();
}

bool Server::wait_for_sites(const std::function<bool(const std::vector<std::string>&)>& ready,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  while (true) {
    if (ready(present_sites())) return true;
    if (sites_changed_.wait_until(lock, deadline) == std::cv_status::timeout) return ready(present_sites());
  }
}

void Server::send_task(const std::string& site, net::TaskHeader header, std::optional<Model> model,
                       std::shared_ptr<PendingTask> pending) {
  std::shared_ptr<SiteSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sites_.find(site);
    if (it != sites_.end()) {
      session = it->second;
    } else if (auto away = away_.find(site); away != away_.end()) {
      // Sent when it comes back (its model from `pending`, which holds it meanwhile).
      const std::uint64_t id = header.task_id;
      away->second.tasks[id] = TaskInFlight{std::move(pending), std::move(header), nullptr};
      return;
    }
  }
  if (!session) {
    pending->on_failure(site, "site is not connected");
    return;
  }
  session->send_task(std::move(header), std::move(model), std::move(pending));
}

void Server::send(const std::string& site, net::Message message) {
  std::shared_ptr<SiteSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sites_.find(site);
    if (it != sites_.end()) session = it->second;
  }
  if (session) session->connection().send(std::move(message));
}

void Server::send(const std::string& site, net::Message message, Model model) {
  std::shared_ptr<SiteSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sites_.find(site);
    if (it != sites_.end()) session = it->second;
  }
  if (session) session->connection().send(std::move(message), std::move(model));
}

SiteListener* Server::listener_for(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  for (auto* l : listeners_) {
    if (l->listened_job() == job_id) return l;
  }
  return nullptr;
}

net::Reception Server::relay(SiteSession& from, const net::Relay& relay) {
  SiteListener* job = listener_for(relay.job_id);
  std::shared_ptr<SiteSession> target;
  {
    std::lock_guard lock(mutex_);
    auto it = sites_.find(relay.to);
    if (it != sites_.end()) target = it->second;
  }
  std::string refusal;
  if (!job) refusal = "no running job " + relay.job_id;
  else if (relay.epoch != job->listened_epoch())
    refusal = "sent in job epoch " + std::to_string(relay.epoch) + ", the job is in epoch " + std::to_string(job->listened_epoch());
  else if (!job->may_relay(from.site(), relay.to)) refusal = "'" + relay.to + "' is not a site of job " + relay.job_id;
  else if (!target) refusal = "site '" + relay.to + "' is not connected";
  if (!refusal.empty()) {
    // The stream that follows, if any, is read and dropped; the sender learns of it from
    // the workflow's own timeouts, as it would of a lost site.
    log_->warn("relay '{}' from '{}' to '{}' dropped: {}", relay.message.name, from.site(), relay.to, refusal);
    return {};
  }
  net::Deliver deliver;
  static_cast<net::SiteMessageHeader&>(deliver) = relay;
  deliver.message.from = from.site();
  auto& out = target->connection();
  if (!relay.has_model) {
    out.send(std::move(deliver));
    return {};
  }
  const std::uint64_t stream = out.new_stream_id();
  out.send_frame(net::encode_frame(deliver), stream, true, false);
  const std::size_t window = 4 * std::max<std::size_t>(options_.connection.chunk_bytes, 64 * 1024);
  return net::Reception{std::make_unique<RelaySink>(from.connection().share(),
                                                    target->connection().share(), stream, window),
                        false};
}

net::Reception Server::report(const std::string& site, const net::Report& report) {
  SiteListener* job = listener_for(report.job_id);
  if (!job) {
    log_->warn("report '{}' from '{}' for job {}, which is not running: dropped", report.message.name, site, report.job_id);
    return {};
  }
  if (report.epoch != job->listened_epoch()) {
    log_->warn("report '{}' from '{}' for job {} sent in its epoch {}, the job is in epoch {}: dropped",
               report.message.name, site, report.job_id, report.epoch, job->listened_epoch());
    return {};
  }
  return net::Reception{job->on_report(site, report), false};
}

void Server::scalars(const std::string& site, const net::Scalars& scalars) {
  SiteListener* job = listener_for(scalars.job_id);
  if (!job || scalars.epoch != job->listened_epoch()) {
    log_->debug("{} scalars from '{}' for job {} (epoch {}), which is not running: dropped", scalars.scalars.size(),
                site, scalars.job_id, scalars.epoch);
    return;
  }
  job->on_scalars(site, scalars);
}

void Server::add_listener(SiteListener* listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(listener);
}

void Server::remove_listener(SiteListener* listener) {
  std::lock_guard lock(mutex_);
  std::erase(listeners_, listener);
}

}  // namespace cohort::server
