#pragma once
// One connection from a site, as the server sees it: the handshake, the tasks sent to it
// and the results coming back.

#include "net/link.hpp"
#include "server/pending_task.hpp"
#include "server/resumable_result.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace cohort::server {

class Server;

/// A task sent to a site and not answered yet: what it takes to send it again to the site
/// when it comes back on a new connection, and its result once one began to arrive (kept
/// across a dropped connection, to go on where it stopped).
struct TaskInFlight {
  std::shared_ptr<PendingTask> task;
  net::TaskHeader header;
  std::shared_ptr<ResumableResult> result;

  /// Fails the task; a result that began counts for what it delivered.
  void fail(const std::string& site, const std::string& reason);
};
using TasksInFlight = std::map<std::uint64_t, TaskInFlight>;

class SiteSession final : public net::LinkHandler, public std::enable_shared_from_this<SiteSession> {
 public:
  SiteSession(Server& server, std::shared_ptr<net::Link> connection);

  net::Reception on_message(net::Link& connection, net::Message& message) override;
  void on_closed(net::Link& connection, const std::string& reason) override;

  /// The site's name once its HELLO was accepted ("" before).
  const std::string& site() const { return site_; }
  net::Link& connection() { return *connection_; }

  /// Sends a task and remembers who waits for its result.
  void send_task(net::TaskHeader header, std::optional<Model> model, std::shared_ptr<PendingTask> pending);
  /// Takes away every task in flight (the connection is gone, or replaced).
  TasksInFlight take_tasks();
  /// The tasks in flight on the site's previous connection: those its HELLO says it holds
  /// (running, or their results waiting to be sent) wait here for their results; the
  /// others are sent again. A result that began and that the site no longer holds fails.
  void adopt(TasksInFlight tasks);

 private:
  void refuse(const std::string& reason);
  net::Reception on_hello(const net::Hello& hello);
  net::Reception on_result(net::ResultHeader& header);

  Server& server_;
  std::shared_ptr<net::Link> connection_;
  std::string site_;
  /// Tasks the site holds from a previous connection (its HELLO says which).
  std::set<std::uint64_t> held_;
  std::mutex mutex_;
  TasksInFlight pending_;
};

}  // namespace cohort::server
