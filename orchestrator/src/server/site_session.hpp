#pragma once
// One connection from a site, as the server sees it: the handshake, the tasks sent to it
// and the results coming back.

#include "net/link.hpp"
#include "server/pending_task.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace cohort::server {

class Server;

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
  /// Fails every task in flight (the connection is gone or replaced).
  void fail_all(const std::string& reason);

 private:
  void refuse(const std::string& reason);
  net::Reception on_hello(const net::Hello& hello);
  net::Reception on_result(net::ResultHeader& header);

  Server& server_;
  std::shared_ptr<net::Link> connection_;
  std::string site_;
  std::mutex mutex_;
  /// Tasks in flight, with the job epoch each was sent in.
  struct InFlight {
    std::shared_ptr<PendingTask> task;
    std::int64_t epoch = 0;
  };
  std::map<std::uint64_t, InFlight> pending_;
};

}  // namespace cohort::server
