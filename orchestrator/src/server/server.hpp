#pragma once
// The server process's core: a TLS listener, the sites connected to it, and the tasks in
// flight. Jobs (JobRunner) use it to reach sites.

#include "net/connection.hpp"
#include "tls/tls.hpp"
#include "config/recipe_file.hpp"
#include "server/pending_task.hpp"
#include "server/site_session.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::server {

struct ServerOptions {
  /// This server's name (its certificate's CN).
  std::string name = "server";
  std::string host = "127.0.0.1";
  /// 0 picks a free port (see Server::port()).
  std::uint16_t port = 0;
  /// Accept sites on host:port. False: another transport attaches every site's link
  /// (attach()), and nothing listens.
  bool listen = true;
  /// TLS identity; none means plain TCP (--insecure).
  std::optional<tls::TlsFiles> tls;
  net::ConnectionOptions connection;
  /// Threads running network I/O.
  int io_threads = 2;
  /// Site names allowed to connect (empty: any site with a certificate from the CA).
  std::set<std::string> known_sites;
  /// How long a site whose connection dropped keeps its tasks in flight: back within it
  /// (a reconnect, a client process restarted), it gets the tasks it no longer holds again
  /// and its results count; only then is it lost to its jobs. 0: lost at once (a transport
  /// without reconnects).
  std::chrono::milliseconds reconnect_grace{std::chrono::seconds(config::kReconnectGraceSeconds)};
};

class SiteSession;

/// What the server tells a job about the sites, and what it routes to it.
class SiteListener {
 public:
  virtual ~SiteListener() = default;
  virtual void site_joined(const std::string& site) = 0;
  virtual void site_lost(const std::string& site, const std::string& reason) = 0;
  /// A site whose connection dropped is back within the grace period, on a new connection
  /// (maybe from a new client process): it was never lost to the job.
  virtual void site_returned(const std::string& site) {}
  /// The job this listener runs (relays and reports name it), and its epoch: a relay or
  /// report of another epoch (sent before the server restarted) is dropped.
  virtual const std::string& listened_job() const = 0;
  virtual std::int64_t listened_epoch() const = 0;
  /// Whether site `from` may relay to site `to` in this job.
  virtual bool may_relay(const std::string& from, const std::string& to) const = 0;
  /// A site's report; returns the sink for the model that follows, if any.
  virtual std::unique_ptr<ResultSink> on_report(const std::string& site, const net::Report& report) = 0;
  /// Scalars `site` logged while it ran (called on its I/O thread).
  virtual void on_scalars(const std::string& site, const net::Scalars& scalars) = 0;
};

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<spdlog::logger> log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds, starts accepting (when it listens) and the I/O threads. Throws when the address
  /// is taken.
  void start();
  /// Says goodbye to every site (`final`: they should not come back), closes, joins.
  void stop(const std::string& reason, bool final);
  /// The bound port.
  std::uint16_t port() const { return port_; }
  /// Serves a site on `link`, from its handshake on. The TCP listener calls it for every
  /// connection it accepts; another transport calls it for each link it opens.
  void attach(std::shared_ptr<net::Link> link);

  /// Names of the sites connected now, and of those away within their grace period.
  std::vector<std::string> connected_sites() const;
  /// Waits until `ready(connected sites)` holds or `timeout` passes; returns whether it holds.
  bool wait_for_sites(const std::function<bool(const std::vector<std::string>&)>& ready,
                      std::chrono::milliseconds timeout);

  /// Sends `header` (+ `model`) to `site`; `pending` hears of the result or failure.
  /// Fails `pending` at once when the site is not connected; a site away within its grace
  /// period gets the task when it comes back.
  void send_task(const std::string& site, net::TaskHeader header, std::optional<Model> model,
                 std::shared_ptr<PendingTask> pending);
  /// Sends a control message to `site` (ignored when it is not connected).
  void send(const std::string& site, net::Message message);
  /// Sends a control message and `model` to `site` (ignored when it is not connected).
  void send(const std::string& site, net::Message message, Model model);

  /// A RELAY from `from`: passes it on to its target as a DELIVER, streaming the model.
  net::Reception relay(SiteSession& from, const net::Relay& relay);
  /// A REPORT from `site`: hands it to the job it names.
  net::Reception report(const std::string& site, const net::Report& report);
  /// SCALARS from `site`: hands them to the job they name (dropped for one not running,
  /// or of another epoch).
  void scalars(const std::string& site, const net::Scalars& scalars);

  /// Jobs register to hear of sites joining and leaving, and to announce themselves to
  /// sites that join later.
  void add_listener(SiteListener* listener);
  void remove_listener(SiteListener* listener);

  /// A task id unique in this server's lifetime.
  std::uint64_t next_task_id() { return ++task_ids_; }

  spdlog::logger& log() { return *log_; }
  const ServerOptions& options() const { return options_; }

 private:
  friend class SiteSession;
  boost::asio::awaitable<void> accept_loop();
  /// Registers a site after its handshake; a new connection for the same name replaces
  /// the old one (a reconnect). Returns an error to refuse with, or "".
  std::string register_site(const std::shared_ptr<SiteSession>& session);
  /// A site's connection closed: its tasks wait for it the grace period, or fail.
  void unregister_site(SiteSession* session, const std::string& reason);
  /// The grace period of site `site` (away since `since`) is over.
  void grace_over(const std::string& site, std::uint64_t away_id);
  /// Every site: connected or away (callers hold mutex_).
  std::vector<std::string> present_sites() const;

  ServerOptions options_;
  SiteListener* listener_for(const std::string& job_id);

  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context io_;
  /// Keeps the I/O threads running when nothing listens (until stop()).
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> keep_running_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<net::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> task_ids_{0};

  mutable std::mutex mutex_;
  std::condition_variable sites_changed_;
  std::map<std::string, std::shared_ptr<SiteSession>> sites_;
  std::set<std::shared_ptr<SiteSession>> sessions_;
  /// Sites whose connection dropped, within their grace period.
  struct Away {
    std::uint64_t id = 0;
    std::string reason;
    TasksInFlight tasks;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::map<std::string, Away> away_;
  std::uint64_t away_ids_ = 0;
  std::vector<SiteListener*> listeners_;
  bool stopping_ = false;
};

}  // namespace cohort::server
