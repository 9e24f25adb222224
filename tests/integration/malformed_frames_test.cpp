// A server fed garbage, truncated, oversized and wrong-version frames drops those
// connections, each with its reason, and goes on serving a good client.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/local_project.hpp"
#include "net/codec.hpp"
#include "tls/tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <doctest/doctest.h>

using namespace cohort::test;
namespace asio = boost::asio;
using cohort::process::ChildProcess;

namespace {

/// A hand-driven TLS connection with the certificate of site `probe`.
class Probe {
 public:
  Probe(const TempDir& dir, const std::string& port)
      : context_(cohort::tls::make_client_context({dir / "kits" / "probe" / "rootCA.pem",
                                                   dir / "kits" / "probe" / "cert.pem",
                                                   dir / "kits" / "probe" / "key.pem"})),
        stream_(io_, context_) {
    asio::ip::tcp::resolver resolver(io_);
    asio::connect(stream_.next_layer(), resolver.resolve("127.0.0.1", port));
    stream_.handshake(asio::ssl::stream_base::client);
  }
  void write(const std::vector<std::byte>& bytes) { asio::write(stream_, asio::buffer(bytes)); }
  /// Reads until the server closes; returns what it sent.
  std::vector<std::byte> read_until_closed() {
    std::vector<std::byte> all;
    std::byte buffer[4096];
    boost::system::error_code ec;
    while (true) {
      std::size_t n = stream_.read_some(asio::buffer(buffer), ec);
      all.insert(all.end(), buffer, buffer + n);
      if (ec) break;
    }
    closed_ = true;
    return all;
  }
  bool closed() const { return closed_; }

 private:
  asio::io_context io_;
  asio::ssl::context context_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool closed_ = false;
};

std::vector<std::byte> raw(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> hello(std::uint16_t version) {
  return cohort::net::encode_frame(cohort::net::Hello{version, "probe", "probe", "test"});
}

}  // namespace

TEST_CASE("malformed frames: each bad connection is dropped, the server keeps serving") {
  TempDir dir;
  cohort::provisioning::provision_local(dir / "kits", "test", "server", {"site-1", "probe"});
  write_text(dir / "recipe.toml", R"(
[job]
name = "malformed"
num_rounds = 1
min_clients = 1
[controller]
plugin = "fedavg"
[executor]
plugin = "synthetic"
[model]
arch = "synthetic"
size_mb = 0.1
)");
  auto server = start_job_server(dir, "site-1");
  const auto port = wait_for_line(dir / "port", server);

  {  // plain bytes where TLS is expected
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    asio::ip::tcp::resolver resolver(io);
    asio::connect(socket, resolver.resolve("127.0.0.1", port));
    asio::write(socket, asio::buffer(std::string("GET / HTTP/1.0\r\n\r\n")));
    char buffer[256];
    boost::system::error_code ec;
    while (!ec) socket.read_some(asio::buffer(buffer), ec);
    CHECK(ec);  // the server hung up
  }
  {  // garbage: an unknown frame type
    Probe probe(dir, port);
    probe.write(raw({1, 0, 0, 0, 250, 7}));
    probe.read_until_closed();
    CHECK(probe.closed());
  }
  {  // truncated: a HELLO announcing 100 bytes that never come
    Probe probe(dir, port);
    auto bytes = raw({100, 0, 0, 0, 1, 'C', 'O', 'H'});
    probe.write(bytes);
    // Half a frame, then silence: the server must not wait for it forever, nor crash.
  }
  {  // oversized: a control frame of 2 GiB
    Probe probe(dir, port);
    probe.write(raw({0, 0, 0, 0x80, 1}));
    probe.read_until_closed();
    CHECK(probe.closed());
  }
  {  // a frame that is not allowed before the handshake
    Probe probe(dir, port);
    probe.write(cohort::net::encode_frame(cohort::net::Heartbeat{}));
    probe.write(cohort::net::encode_frame(cohort::net::ModelEnd{}));
    probe.read_until_closed();
    CHECK(probe.closed());
  }
  {  // wrong protocol version: refused with both versions named
    Probe probe(dir, port);
    probe.write(hello(99));
    const auto reply = probe.read_until_closed();
    REQUIRE(reply.size() > cohort::net::kFrameHeaderBytes);
    auto [type, length] = cohort::net::decode_header(std::span<const std::byte, 5>(reply.data(), 5));
    REQUIRE(type == cohort::net::FrameType::refuse);
    auto refuse = std::get<cohort::net::Refuse>(cohort::net::decode(
        type, std::span<const std::byte>(reply.data() + 5, length), cohort::net::Limits{}));
    CHECK(refuse.reason == "protocol version 99 is not supported: this server speaks version " + std::to_string(cohort::net::kProtocolVersion));
  }
  {  // a CHUNK outside any tensor, after a proper handshake
    Probe probe(dir, port);
    probe.write(hello(cohort::net::kProtocolVersion));
    probe.write(raw({4, 0, 0, 0, 10, 1, 2, 3, 4}));
    probe.read_until_closed();
    CHECK(probe.closed());
  }

  // A good client still gets the whole job done.
  auto good = start_job_client(dir, port, "client-1", {dir / "kits" / "site-1"});
  const auto status = server.wait_for(std::chrono::seconds(120));
  if (status != 0) MESSAGE(read_text(dir / "server.log"));
  CHECK(status == 0);
  CHECK(good.wait_for(std::chrono::seconds(30)) == 0);
  const auto log = read_text(dir / "server.log");
  CHECK(log.find("protocol error: unknown frame type 250") != std::string::npos);
  CHECK(log.find("HELLO frame of 2147483648 bytes exceeds the limit") != std::string::npos);
  CHECK(log.find("TLS handshake failed") != std::string::npos);
}
