#pragma once
// One hosted site's link to the server: connects (mutual TLS with the site's certificate),
// says HELLO, keeps the connection, reconnects with exponential backoff when it drops.
//
// Its results survive a dropped connection: each is kept until the server says it has it
// whole (RECEIVED), and sent again on the next connection; the HELLO of a reconnect lists
// the tasks the site holds (running, or their results kept), so the server waits for
// those and sends only the others again.

#include "client/client_process.hpp"
#include "client/scalar_queue.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <set>

namespace cohort::client {

class SiteLink final : public net::LinkHandler, public std::enable_shared_from_this<SiteLink> {
 public:
  SiteLink(ClientProcess& process, SiteIdentity identity);

  const std::string& site() const { return identity_.name; }
  /// Starts connecting (and reconnecting until the process stops).
  void start();
  /// Closes the current connection.
  void stop();
  /// Serves this site over `link`, just opened: says HELLO, then handles what the server
  /// sends. The TCP dialer (start) calls it for each connection it opens; another
  /// transport calls it with a link of its own.
  void attach(std::shared_ptr<net::Link> link);
  /// The current connection (null while reconnecting).
  std::shared_ptr<net::Link> connection();

  net::Reception on_message(net::Link& connection, net::Message& message) override;
  void on_closed(net::Link& connection, const std::string& reason) override;

  /// The site holds task `id`: its model arrived whole, its worker is on it.
  void hold_task(std::uint64_t id);
  /// Sends a task's result now, or once the site is connected again, and keeps it until
  /// the server has it. `settled` is called once it is written, or kept for a reconnect:
  /// the worker goes on then.
  void send_result(net::ResultHeader header, Model result, std::function<void()> settled);
  /// Drops the results kept of a job that ended.
  void forget_job(const std::string& job_id);
  /// Queues a scalar the site's executor logged in job `job_id` (ScalarQueue: never
  /// blocks, bounded), and sends a batch when one is due.
  void log_scalar(const std::string& job_id, std::int64_t epoch, net::Scalar scalar);
  /// Sends all the site has logged (before a task's result goes).
  void flush_scalars();

 private:
  /// Queues result `id` on `connection` unless it is queued already.
  void transmit(std::uint64_t id, const std::shared_ptr<net::Link>& connection);
  /// The server acknowledged result `id`.
  void received(std::uint64_t id);
  /// Sends the batches of logged scalars that are due (all of them with `flush`), when
  /// connected: otherwise they wait in the queue.
  void send_scalars(bool flush);
  boost::asio::awaitable<void> connect();
  void schedule_reconnect();

  ClientProcess& process_;
  SiteIdentity identity_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_;
  std::mutex mutex_;
  std::shared_ptr<net::Link> connection_;
  bool welcomed_ = false;
  /// Tasks the worker is running.
  std::set<std::uint64_t> running_;
  /// Results not yet acknowledged by the server.
  struct Outgoing {
    net::ResultHeader header;
    Model model;
    bool queued = false;  ///< on the current connection
    std::function<void()> settled;
  };
  std::map<std::uint64_t, Outgoing> outbox_;
  bool final_refusal_ = false;
  ScalarQueue scalars_;
};

}  // namespace cohort::client
