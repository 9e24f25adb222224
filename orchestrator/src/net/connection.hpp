#pragma once
// The Asio implementation of Link: TLS (TlsChannel) or plain TCP, one strand, a reader
// coroutine that feeds the socket's bytes to a FrameReader (straight into their
// destination), a write queue that streams models chunk by chunk from tensor storage
// (ModelWriter), and heartbeats. Any protocol violation or I/O error closes this
// connection (logged, with the reason) and nothing else.

#include "net/frame_reader.hpp"
#include "net/link.hpp"
#include "net/tls_channel.hpp"
#include "net/write_queue.hpp"

#include <utility>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

/// Called after each chunk of an outgoing model with the model bytes this connection has
/// written so far, and a function that cuts the stream there (the peer reads exactly the
/// bytes written, then end of stream). A test seam (see fault_injection.hpp); empty in
/// production.
using ModelBytesObserver = std::function<void(std::uint64_t written, const std::function<void()>& cut)>;

/// Connection settings shared by both ends.
struct ConnectionOptions {
  Limits limits;
  Timing timing;
  /// Chunk size for outgoing tensor bytes (rounded down to whole elements).
  std::size_t chunk_bytes = 1u << 20;
  ModelBytesObserver on_model_bytes;
};

class Connection final : public Link, public std::enable_shared_from_this<Connection>, private FrameReader::Handler {
 public:
  /// `tls` null means plain TCP. `socket` must be connected already.
  Connection(asio::io_context& io, tcp::socket socket, asio::ssl::context* tls, bool server_side,
             ConnectionOptions options, std::shared_ptr<spdlog::logger> log);
  ~Connection() override;

  // Link
  void start(std::shared_ptr<LinkHandler> handler) override;
  void send(Message message, Done done = {}) override;
  void send(Message message, Model model, Done done = {}) override;
  std::uint64_t new_stream_id() override { return ++stream_ids_; }
  void send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes, Done done = {}) override;
  void send_and_close(Message message, std::string reason) override;
  void close(std::string reason) override;
  void established() override;
  void release_hold() override;
  const std::string& peer_name() const override { return peer_name_; }
  const std::string& remote() const override { return remote_; }
  bool secure() const override { return tls_ != nullptr; }
  bool closed() const override { return closed_.load(); }
  std::string security() const override;
  void set_label(std::string label) override;
  const std::string& label() const override { return label_; }
  std::shared_ptr<Link> share() override { return shared_from_this(); }

 private:
  // FrameReader::Handler
  Reception on_message(Message& message) override;
  void on_stream_rejected(const std::string& reason) override;

  asio::awaitable<void> run(std::shared_ptr<Connection> self);
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> heartbeat_loop();
  asio::awaitable<void> write_model(const Model& model);
  /// Writes one queued item (its frame, then its model's stream) and tells its done.
  asio::awaitable<void> write_item(Outgoing item);
  asio::awaitable<void> read_exact(std::span<std::byte> into);
  asio::awaitable<void> write_all(std::span<const asio::const_buffer> buffers);
  /// Queues `item` from any thread.
  void post(Outgoing item);
  void enqueue(Outgoing item);
  void close_on_strand(const std::string& reason);
  void cut_stream();

  Strand strand_;
  tcp::socket socket_;
  asio::ssl::context* tls_;
  /// TLS on socket_ (null for plain TCP, which reads and writes the socket directly).
  std::unique_ptr<TlsChannel> channel_;
  bool server_side_;
  ConnectionOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<LinkHandler> handler_;
  FrameReader reader_;
  asio::steady_timer wake_writer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer hold_timer_;
  bool held_ = false;
  WriteQueue queue_;
  std::string peer_name_;
  /// The negotiated cipher suite, set with peer_name_ after the handshake.
  std::string cipher_;
  std::string remote_;
  std::string label_;
  std::chrono::steady_clock::time_point last_read_;
  std::chrono::steady_clock::time_point last_write_;
  std::uint64_t model_bytes_written_ = 0;
  std::atomic<std::uint64_t> stream_ids_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace cohort::net
