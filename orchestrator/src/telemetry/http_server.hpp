#pragma once
// A small HTTP/1.1 server (Boost.Beast) for what a process shows of itself: /metrics and
// the health probes, later the dashboard. One thread; GET and HEAD only; a request's
// head of at most 8 KiB and no body; a connection idle for 10 s is closed. A request it
// cannot parse gets 400, another method 405, an unknown path 404: each closes (or keeps)
// that one connection, never the server.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace spdlog {
class logger;
}

namespace cohort::telemetry {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// Answers a GET of one path (the query string is ignored). Runs on the server's thread.
using HttpRoute = std::function<HttpResponse()>;

/// Where to listen: "HOST:PORT" ("127.0.0.1:9400", "[::1]:9400", "0.0.0.0:9400").
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const;
};

/// Reads "HOST:PORT"; throws std::invalid_argument saying what is wrong (the caller adds
/// where it was written).
ListenAddress parse_listen_address(const std::string& text);

class HttpServer {
 public:
  HttpServer(ListenAddress address, std::map<std::string, HttpRoute> routes, std::shared_ptr<spdlog::logger> log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts serving; throws std::runtime_error when the address cannot be bound.
  void start();
  /// Stops serving and joins its thread (also on destruction).
  void stop();
  /// The bound port (the address's, or the one the system chose for port 0).
  std::uint16_t port() const { return port_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

}  // namespace cohort::telemetry
