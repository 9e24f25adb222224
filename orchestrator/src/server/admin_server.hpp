#pragma once
// The server's admin endpoint: authenticates admins by their certificate (CN = name,
// O = org, OU = role), authorizes each command (authorization.hpp) and answers from the
// job store and the scheduler. A malformed request closes that connection only.

#include "admin/admin_protocol.hpp"
#include "admin/authorization.hpp"
#include "jobs/job_store.hpp"
#include "tls/tls.hpp"
#include "server/job_scheduler.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <nlohmann/json.hpp>

#include <thread>

namespace cohort::admin {

struct AdminServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 0;
  tls::TlsFiles tls;
  std::filesystem::path workspace;
};

class AdminServer {
 public:
  AdminServer(AdminServerOptions options, server::JobScheduler& scheduler, jobs::JobStore& store,
              std::shared_ptr<spdlog::logger> log);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds and serves on a thread of its own. Throws when the port is taken.
  void start();
  void stop();
  std::uint16_t port() const { return port_; }

  /// Answers one request from `admin` (what a connection does after the handshake);
  /// for downloads, `files` gets the absolute paths to send after the reply.
  nlohmann::json handle(const AdminIdentity& admin, const AdminRequest& request,
                        std::vector<std::pair<std::filesystem::path, std::uintmax_t>>& files);

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  AdminServerOptions options_;
  server::JobScheduler& scheduler_;
  jobs::JobStore& store_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace cohort::admin
