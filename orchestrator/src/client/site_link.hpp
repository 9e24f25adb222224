#pragma once
// One hosted site's link to the server: connects (mutual TLS with the site's certificate),
// says HELLO, keeps the connection, reconnects with exponential backoff when it drops.

#include "client/client_process.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

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

 private:
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
  bool final_refusal_ = false;
};

}  // namespace cohort::client
