// Model transfer: one model from a "server" connection to a "client" connection and back,
// through cohort's framing (TENSOR records, CHUNK frames written from tensor storage and
// read straight into the destination tensors), over TLS and plain TCP on loopback; next
// to a raw TCP socket pair moving the same bytes there and back, measured here too.
#include "suites.hpp"
#include "model_receiver.hpp"

#include "provisioning/local_project.hpp"
#include "net/connection.hpp"
#include "tls/tls.hpp"

#include "memory/memory.hpp"
#include <cohort/stream.hpp>

#include <ATen/ops/full.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <spdlog/logger.h>

#include <sys/socket.h>

#include <condition_variable>
#include <cstring>
#include <future>
#include <thread>

namespace cohort::bench {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

/// The raw pairs' hot buffers, and what raw TLS reads ahead and seals before a send().
constexpr std::size_t kPiece = 1 << 20;
constexpr int kTlsBufferBytes = 256 << 10;

/// The TLS identity of `who` in the kits that provision_local wrote under `kits`.
tls::TlsFiles identity(const std::filesystem::path& kits, const std::string& who) {
  return {kits / who / provisioning::kRootCertificateFile, kits / who / provisioning::kCertificateFile,
          kits / who / provisioning::kKeyFile};
}

/// The model there and back through two Connections; returns GB/s of bytes moved.
double cohort_round_trip(const Model& model, bool tls, const std::filesystem::path& kits) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
  std::unique_ptr<asio::ssl::context> server_tls, client_tls;
  if (tls) {
    server_tls = std::make_unique<asio::ssl::context>(tls::make_server_context(identity(kits, "server")));
    client_tls = std::make_unique<asio::ssl::context>(tls::make_client_context(identity(kits, "site-1")));
  }
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket server_socket(io), client_socket(io);
  std::thread accept([&] { acceptor.accept(server_socket); });
  client_socket.connect(acceptor.local_endpoint());
  accept.join();
  auto log = std::make_shared<spdlog::logger>("bench");
  net::ConnectionOptions options;
  options.timing.idle_timeout = std::chrono::hours(1);
  auto server = std::make_shared<net::Connection>(io, std::move(server_socket), server_tls.get(), true, options, log);
  auto client = std::make_shared<net::Connection>(io, std::move(client_socket), client_tls.get(), false, options, log);
  std::promise<Model> back;
  auto server_handler = std::make_shared<ModelReceiver>([&](Model m) { back.set_value(std::move(m)); });
  auto client_handler = std::make_shared<ModelReceiver>([&](Model m) {
    // The client sends what it got straight back.
    client->send(net::ResultHeader{1, "bench", true, "", 0, 1, {}, true}, std::move(m));
  });
  server->established();
  client->established();
  server->start(server_handler);
  client->start(client_handler);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // TLS handshakes
  const auto start = Clock::now();
  server->send(net::TaskHeader{1, "bench", "train", 0, 0, 1, {}, true}, model);
  Model returned = back.get_future().get();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (returned.byte_size() != model.byte_size()) throw std::runtime_error("transfer bench: the model came back truncated");
  server->close("done");
  client->close("done");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();
  return 2.0 * static_cast<double>(model.byte_size()) / seconds / 1e9;
}

}  // namespace

namespace {

/// Two blocking sockets connected over loopback, `a` to `b`.
struct LoopbackPair {
  asio::io_context io;
  tcp::socket a{io}, b{io};
  LoopbackPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::thread accept([&] { acceptor.accept(b); });
    a.connect(acceptor.local_endpoint());
    accept.join();
  }
};

}  // namespace

/// Raw TCP: `bytes` one way, then back, between two threads; returns GB/s of bytes moved.
/// Hot buffers: the writer sends one 1 MiB buffer over and over and the reader reuses
/// another (both stay in the core's cache). Fresh memory: the reader receives into newly
/// allocated memory the size of the model (readied by memory::prepare_for_filling, as a
/// model's destination is). Resident memory: the model's size out of one resident block
/// into another and back, as models move with reuse_model_memory (memory, not cache).
double raw_tcp_throughput(std::size_t bytes, RawMemory memory_kind) {
  LoopbackPair pair;
  tcp::socket &a = pair.a, &b = pair.b;
  std::vector<char> out(kPiece, 'x'), in(kPiece);
  std::unique_ptr<char[]> there, back;
  if (memory_kind == RawMemory::resident) {
    there.reset(new char[bytes]);
    back.reset(new char[bytes]);
    memory::prepare_for_filling(there.get(), bytes);  // on huge pages, as a kept model's blocks are
    memory::prepare_for_filling(back.get(), bytes);
    std::memset(there.get(), 'x', bytes);
  }
  // From `source` (null: the hot buffer) into `destination` (null: fresh memory or the hot buffer).
  auto move = [&](tcp::socket& from, tcp::socket& to, const char* source, char* destination) {
    std::thread reader([&] {
      std::unique_ptr<char[]> fresh;
      if (memory_kind == RawMemory::fresh) {
        fresh.reset(new char[bytes]);
        memory::prepare_for_filling(fresh.get(), bytes);
        destination = fresh.get();
      }
      for (std::size_t done = 0; done < bytes;)
        done += to.read_some(asio::buffer(destination ? destination + done : in.data(), std::min(bytes - done, kPiece)));
    });
    for (std::size_t done = 0; done < bytes;)
      done += asio::write(from, asio::buffer(source ? source + done : out.data(), std::min(bytes - done, kPiece)));
    reader.join();
  };
  const auto start = Clock::now();
  move(a, b, there.get(), back.get());
  move(b, a, back.get(), there.get());
  return 2.0 * bytes / std::chrono::duration<double>(Clock::now() - start).count() / 1e9;
}

/// Raw TLS: the trip of raw_tcp_throughput over one mutual-TLS connection (cohort's cipher
/// suite, the kits' certificates), OpenSSL driven directly on the blocking sockets from hot
/// 1 MiB buffers, buffered as cohort's TLS channel does: records read ahead 256 KiB at a
/// time, sealed into a 256 KiB buffer before each send() (1 MiB buffers were slower here:
/// they leave the core's cache). No framing and no model memory: what sealing and opening
/// cost on top of the raw socket pair, the floor of any TLS transport on this machine.
double raw_tls_throughput(std::size_t bytes, const std::filesystem::path& kits) {
  auto server_tls = tls::make_server_context(identity(kits, "server"));
  auto client_tls = tls::make_client_context(identity(kits, "site-1"));
  LoopbackPair pair;
  tcp::socket &a = pair.a, &b = pair.b;
  using Ssl = std::unique_ptr<SSL, void (*)(SSL*)>;
  Ssl client(SSL_new(client_tls.native_handle()), SSL_free), server(SSL_new(server_tls.native_handle()), SSL_free);
  for (auto [ssl, socket] : {std::pair{client.get(), &a}, std::pair{server.get(), &b}}) {
    SSL_set_fd(ssl, static_cast<int>(socket->native_handle()));
    SSL_set_read_ahead(ssl, 1);
    SSL_set_default_read_buffer_len(ssl, kTlsBufferBytes);
  }
  bool accepted = false;
  std::thread handshake([&] { accepted = SSL_accept(server.get()) == 1; });
  const bool connected = SSL_connect(client.get()) == 1;
  handshake.join();
  if (!connected || !accepted) throw std::runtime_error("raw TLS pair: the handshake failed");
  for (SSL* ssl : {client.get(), server.get()}) {
    BIO* socket = SSL_get_wbio(ssl);
    BIO* buffer = BIO_new(BIO_f_buffer());
    BIO_set_write_buffer_size(buffer, kTlsBufferBytes);
    BIO_up_ref(socket);
    BIO_push(buffer, socket);
    SSL_set0_wbio(ssl, buffer);
  }
  std::vector<char> out(kPiece, 'x'), in(kPiece);
  auto move = [&](SSL* from, SSL* to) {
    bool read = true;
    std::thread reader([&] {
      for (std::size_t left = bytes, got = 0; left && read; left -= got)
        read = SSL_read_ex(to, in.data(), std::min(left, in.size()), &got) == 1;
    });
    bool written = true;
    for (std::size_t left = bytes, put = 0; left && written; left -= put)
      written = SSL_write_ex(from, out.data(), std::min(left, out.size()), &put) == 1;
    written = written && BIO_flush(SSL_get_wbio(from)) == 1;
    if (!written) ::shutdown(static_cast<int>(SSL_get_fd(from)), SHUT_RDWR);  // the reader's recv() returns
    reader.join();
    if (!written || !read) throw std::runtime_error("raw TLS pair: the transfer failed");
  };
  const auto start = Clock::now();
  move(client.get(), server.get());
  move(server.get(), client.get());
  return 2.0 * bytes / std::chrono::duration<double>(Clock::now() - start).count() / 1e9;
}

std::vector<Row> transfer(const Context& ctx) {
  const std::size_t bytes = ctx.quick ? (64u << 20) : (1ull << 30);
  const int runs = ctx.quick ? 2 : 5;
  std::filesystem::create_directories(ctx.work / "transfer");
  provisioning::provision_local(ctx.work / "transfer" / "kits", "bench", "server", {"site-1"});
  Model model;
  for (int i = 0; i < 4; ++i) model.tensors.push_back({"w" + std::to_string(i), at::full({static_cast<std::int64_t>(bytes / 16)}, 1.0f)});
  std::vector<double> raw, raw_fresh, raw_resident, raw_tls, plain, tls, plain_reused, tls_reused;
  const auto kits = ctx.work / "transfer" / "kits";
  for (int r = 0; r < runs; ++r) {
    raw.push_back(raw_tcp_throughput(bytes, RawMemory::hot));
    raw_fresh.push_back(raw_tcp_throughput(bytes, RawMemory::fresh));
    raw_resident.push_back(raw_tcp_throughput(bytes, RawMemory::resident));
    raw_tls.push_back(raw_tls_throughput(bytes, kits));
    plain.push_back(cohort_round_trip(model, false, kits));
    tls.push_back(cohort_round_trip(model, true, kits));
  }
  // reuse_model_memory: a received model lands in the blocks the last one left. Both ends
  // are in this process, so it keeps two models' worth; one warm-up trip fills it.
  memory::enable_tensor_accounting();
  memory::note_model_bytes(2 * bytes);
  memory::set_model_memory_reuse(true);
  cohort_round_trip(model, false, kits);
  for (int r = 0; r < runs; ++r) {
    plain_reused.push_back(cohort_round_trip(model, false, kits));
    tls_reused.push_back(cohort_round_trip(model, true, kits));
  }
  memory::set_model_memory_reuse(false);
  const Stats baseline = stats(raw);
  const Stats fresh = stats(raw_fresh), resident = stats(raw_resident);
  const Stats sealed = stats(raw_tls);
  std::vector<Row> rows;
  const std::string size = ctx.quick ? "64 MiB" : "1 GiB";
  for (const auto& [name, values, goal] : {std::tuple{std::string("plain TCP"), plain, 0.8}, std::tuple{std::string("mutual TLS"), tls, 0.6},
                                          std::tuple{std::string("plain TCP, reuse_model_memory"), plain_reused, 0.8},
                                          std::tuple{std::string("mutual TLS, reuse_model_memory"), tls_reused, 0.6}}) {
    Row row;
    row.benchmark = "transfer";
    row.setting = size + " model there and back, " + name;
    row.figure = stats(values);
    row.unit = "GB/s";
    row.baseline = baseline;
    row.baseline_unit = "GB/s raw TCP socket pair";
    const double ratio = row.figure.median / baseline.median;
    row.goal = ">= " + std::to_string(goal).substr(0, 3) + " × raw";
    row.met = ratio >= goal;
    row.note = "ratio " + std::to_string(ratio).substr(0, 5) + "; raw TCP into fresh memory (as a model lands): " +
               std::to_string(fresh.median).substr(0, 5) + " GB/s, ratio to that " +
               std::to_string(row.figure.median / fresh.median).substr(0, 5);
    if (name.ends_with("reuse_model_memory"))
      row.note += "; raw TCP from resident memory into resident memory (as models move with reuse): " +
                  std::to_string(resident.median).substr(0, 5) + " GB/s, ratio to that " +
                  std::to_string(row.figure.median / resident.median).substr(0, 5);
    if (name.starts_with("mutual TLS"))
      row.note += "; raw TLS pair (OpenSSL alone on the same sockets, hot buffers): " + std::to_string(sealed.median).substr(0, 5) +
                  " GB/s (" + std::to_string(sealed.median / baseline.median).substr(0, 5) + " × raw TCP), ratio to that " +
                  std::to_string(row.figure.median / sealed.median).substr(0, 5);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace cohort::bench
