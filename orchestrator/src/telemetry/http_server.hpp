#pragma once
// A small HTTP/1.1 server (Boost.Beast) for what a process shows of itself: /metrics and
// the health probes, the dashboard. One thread; a request's head of at most 8 KiB and no
// body; a connection idle for 10 s is closed. A request it cannot parse gets 400 (and its
// connection closed), a handler that throws 500: one connection's trouble, never the
// server's. HEAD is answered as GET without the body.

#include "config/listen_address.hpp"

#include <cstdint>
#include <filesystem>
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
  /// When set, the body is this file's bytes, streamed from disk (an attachment), not `body`.
  std::filesystem::path file{};
};

struct HttpRequest {
  /// "GET" (for HEAD too), "POST", ...
  std::string method;
  /// The target's path, and its query's parameters (name=value&..., as they are written).
  std::string path;
  std::map<std::string, std::string> query;
  /// Its header fields, names in lower case.
  std::map<std::string, std::string> headers;
};

/// Answers every request. Runs on the server's thread.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// The usual answers.
HttpResponse text_response(unsigned status, std::string text);
HttpResponse json_response(unsigned status, std::string json_text);

using config::ListenAddress;

class HttpServer {
 public:
  HttpServer(ListenAddress address, HttpHandler handler, std::shared_ptr<spdlog::logger> log);
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
