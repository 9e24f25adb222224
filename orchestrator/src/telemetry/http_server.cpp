#include "telemetry/http_server.hpp"

#include <utility>  // before Asio: its awaitable.hpp uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/logger.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <stdexcept>

namespace cohort::telemetry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::size_t kHeadLimit = 8 * 1024;
constexpr std::chrono::seconds kIdle{10};

http::response<http::string_body> reply(const HttpResponse& r, unsigned version, bool keep_alive, bool head) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "cohort");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  if (head) res.body().clear();
  return res;
}

/// `r.file`'s bytes, streamed from disk as an attachment.
http::response<http::file_body> file_reply(const HttpResponse& r, unsigned version, bool keep_alive) {
  http::response<http::file_body> res{static_cast<http::status>(r.status), version};
  beast::error_code ec;
  res.body().open(r.file.c_str(), beast::file_mode::scan, ec);
  if (ec) throw std::runtime_error(r.file.string() + ": cannot open: " + ec.message());
  res.set(http::field::server, "cohort");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::content_disposition, "attachment; filename=\"" + r.file.filename().string() + "\"");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

HttpResponse text_response(unsigned status, std::string text) {
  return {status, "text/plain; charset=utf-8", std::move(text)};
}

HttpResponse json_response(unsigned status, std::string json_text) {
  return {status, "application/json", std::move(json_text)};
}

/// `text` with its %XX escapes decoded (an escape that is not one stays as it is).
std::string percent_decoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr == text.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

/// The request's method, path (decoded) and query parameters (decoded).
HttpRequest to_request(const http::request<http::empty_body>& req) {
  HttpRequest r;
  r.method = req.method() == http::verb::head ? "GET" : std::string(req.method_string());
  const std::string target(req.target());
  const auto question = target.find('?');
  r.path = percent_decoded(std::string_view(target).substr(0, question));
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(field.value());
  }
  if (question == std::string::npos) return r;
  std::string_view query(target);
  query.remove_prefix(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (!pair.empty())
      r.query[percent_decoded(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decoded(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return r;
}

struct HttpServer::State {
  ListenAddress address;
  HttpHandler handler;
  std::shared_ptr<spdlog::logger> log;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};

  HttpResponse route(const http::request<http::empty_body>& req) const {
    const HttpRequest request = to_request(req);
    try {
      return handler(request);
    } catch (const std::exception& e) {
      log->warn("http {} {}: {}", request.method, request.path, e.what());
      return text_response(500, std::string("error: ") + e.what() + "\n");
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    try {
      while (true) {
        http::request_parser<http::empty_body> parser;
        parser.header_limit(kHeadLimit);
        parser.body_limit(0);
        stream.expires_after(kIdle);
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) break;
        if (ec) {
          co_await http::async_write(stream, reply(text_response(400, "bad request: " + ec.message() + "\n"), 11, false, false),
                                     asio::use_awaitable);
          break;
        }
        const auto& req = parser.get();
        const bool head = req.method() == http::verb::head;
        const HttpResponse answer = route(req);
        if (!answer.file.empty() && !head) {
          auto res = file_reply(answer, req.version(), req.keep_alive());
          co_await http::async_write(stream, res, asio::use_awaitable);
          if (!res.keep_alive()) break;
          continue;
        }
        auto res = reply(answer, req.version(), req.keep_alive(), head);
        co_await http::async_write(stream, res, asio::use_awaitable);
        if (!res.keep_alive()) break;
      }
    } catch (const std::exception& e) {
      log->debug("http: a connection ended: {}", e.what());
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::awaitable<void> accept() {
    while (acceptor.is_open()) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;
      }
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(ListenAddress address, HttpHandler handler, std::shared_ptr<spdlog::logger> log)
    : state_(std::make_unique<State>()) {
  state_->address = std::move(address);
  state_->handler = std::move(handler);
  state_->log = std::move(log);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const tcp::endpoint endpoint(asio::ip::make_address(state_->address.host), state_->address.port);
  boost::system::error_code ec;
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen for HTTP on " + state_->address.text() + ": " + ec.message());
  port_ = acceptor.local_endpoint().port();
  asio::co_spawn(state_->io, state_->accept(), asio::detached);
  thread_ = std::thread([this] { state_->io.run(); });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(state_->io, [this] {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    state_->io.stop();
  });
  thread_.join();
}

}  // namespace cohort::telemetry
