// Connection over real loopback sockets, mutual TLS (TlsChannel) and plain TCP: a model
// crosses whole; a peer that stops reading stalls only its own stream, even with one I/O
// thread for every connection; a peer that vanishes mid-stream closes its connection only.
#include "net/connection.hpp"
#include "provisioning/local_project.hpp"
#include "support/temp_dir.hpp"
#include "tls/tls.hpp"

#include <cohort/stream.hpp>

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <spdlog/logger.h>

#include <future>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace net = cohort::net;
using tcp = asio::ip::tcp;
using cohort::Model;
using cohort::test::TempDir;

Model counting_model(std::int64_t megabytes) {
  Model model;
  const std::int64_t floats = megabytes * (1 << 20) / 4 / 2;
  model.tensors.push_back({"a", at::arange(floats, at::kFloat)});
  model.tensors.push_back({"b", at::arange(floats, 2 * floats, at::kFloat)});
  return model;
}

/// One side's handler: a model that arrives is built and handed to `received`; with
/// `hold`, the first message stops reading for good (a peer that stops reading).
class Side final : public net::LinkHandler {
 public:
  explicit Side(bool hold = false) : hold_(hold) {}

  net::Reception on_message(net::Link&, net::Message& message) override {
    if (hold_) return net::Reception{nullptr, true};
    const bool has_model = std::visit(
        [](const auto& m) {
          if constexpr (requires { m.has_model; }) return m.has_model;
          return false;
        },
        message);
    if (!has_model) return {};
    class Sink final : public cohort::ResultSink {
     public:
      explicit Sink(Side* side) : side_(side) {}
      void begin_tensor(const cohort::TensorInfo& t) override { builder_.begin_tensor(t); }
      std::span<std::byte> chunk_destination(std::uint64_t o, std::size_t n) override {
        return builder_.chunk_destination(o, n);
      }
      void chunk_received(std::uint64_t o, std::span<const std::byte> d) override { builder_.chunk_received(o, d); }
      void commit() override { side_->received.set_value(builder_.take()); }

     private:
      Side* side_;
      cohort::ModelBuilder builder_;
    };
    return net::Reception{std::make_unique<Sink>(this), false};
  }
  void on_closed(net::Link&, const std::string& reason) override { closed.set_value(reason); }

  std::promise<Model> received;
  std::promise<std::string> closed;

 private:
  bool hold_;
};

/// Connected pairs of Connections on one io_context with `threads` I/O threads.
class Loopback {
 public:
  Loopback(bool tls, int threads) : guard_(asio::make_work_guard(io_)) {
    if (tls) {
      cohort::provisioning::provision_local(dir_.path(), "test", "server", {"site-1", "site-2"});
      auto files = [&](const std::string& who) {
        return cohort::tls::TlsFiles{dir_ / who / "rootCA.pem", dir_ / who / "cert.pem", dir_ / who / "key.pem"};
      };
      server_tls_ = std::make_unique<asio::ssl::context>(cohort::tls::make_server_context(files("server")));
      client_tls_ = std::make_unique<asio::ssl::context>(cohort::tls::make_client_context(files("site-1")));
    }
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Loopback() {
    for (auto& c : connections_) c->close("test over");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }

  /// A server-side and a client-side connection, started with their handlers.
  std::pair<std::shared_ptr<net::Connection>, std::shared_ptr<net::Connection>> connect(
      std::shared_ptr<Side> server_side, std::shared_ptr<Side> client_side) {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket server_socket(io_), client_socket(io_);
    std::thread accept([&] { acceptor.accept(server_socket); });
    client_socket.connect(acceptor.local_endpoint());
    accept.join();
    // Small socket buffers, so that a model far outgrows what the kernel holds.
    for (auto* s : {&server_socket, &client_socket}) {
      s->set_option(asio::socket_base::send_buffer_size(64 * 1024));
      s->set_option(asio::socket_base::receive_buffer_size(64 * 1024));
    }
    auto log = std::make_shared<spdlog::logger>("test");
    net::ConnectionOptions options;
    options.timing.idle_timeout = std::chrono::minutes(5);
    auto server = std::make_shared<net::Connection>(io_, std::move(server_socket), server_tls_.get(), true, options, log);
    auto client = std::make_shared<net::Connection>(io_, std::move(client_socket), client_tls_.get(), false, options, log);
    server->established();
    client->established();
    server->start(std::move(server_side));
    client->start(std::move(client_side));
    connections_.push_back(server);
    connections_.push_back(client);
    return {server, client};
  }

 private:
  TempDir dir_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::unique_ptr<asio::ssl::context> server_tls_, client_tls_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<net::Connection>> connections_;
};

const net::TaskHeader kTask{1, "job", "train", 0, 0, 1, {}, true};
constexpr auto kPatience = std::chrono::seconds(60);

}  // namespace

TEST_CASE("connection: a model crosses whole over mutual TLS and over plain TCP, the security named") {
  for (const bool tls : {true, false}) {
    CAPTURE(tls);
    Loopback loopback(tls, 2);
    auto receiver = std::make_shared<Side>();
    auto [server, client] = loopback.connect(std::make_shared<Side>(), receiver);
    const Model model = counting_model(24);
    server->send(kTask, model);
    auto arrived = receiver->received.get_future();
    REQUIRE(arrived.wait_for(kPatience) == std::future_status::ready);
    const Model got = arrived.get();
    REQUIRE(got.tensors.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) CHECK(at::equal(got.tensors[i].tensor, model.tensors[i].tensor));
    if (tls) {
      CHECK(server->security().rfind("mutual TLS, TLS_", 0) == 0);
      CHECK(server->peer_name() == "site-1");
      CHECK(client->peer_name() == "server");
    } else {
      CHECK(server->security() == "plain TCP");
    }
  }
}

TEST_CASE("connection: a peer that stops reading stalls only its own stream, with one I/O thread for all") {
  for (const bool tls : {true, false}) {
    CAPTURE(tls);
    Loopback loopback(tls, 1);
    auto [to_slow, slow] = loopback.connect(std::make_shared<Side>(), std::make_shared<Side>(true));
    auto fast_side = std::make_shared<Side>();
    auto [to_fast, fast] = loopback.connect(std::make_shared<Side>(), fast_side);
    std::atomic<bool> slow_done = false;
    to_slow->send(kTask, counting_model(32), [&](bool) { slow_done = true; });
    const Model model = counting_model(32);
    to_fast->send(kTask, model);
    auto arrived = fast_side->received.get_future();
    REQUIRE(arrived.wait_for(kPatience) == std::future_status::ready);
    CHECK(at::equal(arrived.get().tensors[1].tensor, model.tensors[1].tensor));
    CHECK_FALSE(slow_done);  // still stuck in the slow peer's socket
  }
}

TEST_CASE("connection: a peer that vanishes mid-stream closes that connection only, with the reason") {
  for (const bool tls : {true, false}) {
    CAPTURE(tls);
    Loopback loopback(tls, 2);
    auto to_gone_side = std::make_shared<Side>();
    auto [to_gone, gone] = loopback.connect(to_gone_side, std::make_shared<Side>(true));
    std::promise<bool> written;
    to_gone->send(kTask, counting_model(32), [&](bool ok) { written.set_value(ok); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the stream is under way
    gone->close("the peer goes away");
    auto outcome = written.get_future();
    REQUIRE(outcome.wait_for(kPatience) == std::future_status::ready);
    CHECK_FALSE(outcome.get());
    auto reason = to_gone_side->closed.get_future();
    REQUIRE(reason.wait_for(kPatience) == std::future_status::ready);
    const std::string why = reason.get();
    CHECK((why == "connection reset by peer" || why == "peer closed the connection" || why == "Broken pipe"));
    // Another connection of the same process goes on.
    auto receiver = std::make_shared<Side>();
    auto [server, client] = loopback.connect(std::make_shared<Side>(), receiver);
    server->send(kTask, counting_model(2));
    auto arrived = receiver->received.get_future();
    CHECK(arrived.wait_for(kPatience) == std::future_status::ready);
  }
}
