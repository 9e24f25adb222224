#pragma once
// One peer connection: TLS (or plain TCP), one strand, a reader coroutine that enforces
// the frame grammar and limits, a write queue that streams models chunk by chunk from
// tensor storage, and heartbeats. Any protocol violation or I/O error closes this
// connection (logged, with the reason) and nothing else.

#include "net/codec.hpp"
#include "net/protocol.hpp"

#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

/// Connection settings shared by both ends.
struct ConnectionOptions {
  Limits limits;
  Timing timing;
  /// Chunk size for outgoing tensor bytes (rounded down to whole elements).
  std::size_t chunk_bytes = 1u << 20;
  /// Fault injection for tests: after this many model bytes written, the connection is cut
  /// and the process kills itself with SIGKILL (0: never). Set from
  /// COHORT_FAULT_KILL_AFTER_UPLOAD_BYTES.
  std::uint64_t kill_after_model_bytes = 0;
};

class Connection;

/// What a handler says about a message it got.
struct Reception {
  /// Where the model that follows goes (TASK or RESULT with has_model); null drops it.
  std::unique_ptr<ResultSink> sink;
  /// Stop reading until Connection::release_hold(): the model waits in the peer's socket
  /// (TCP back-pressure) instead of in memory until the handler is ready for it.
  bool hold = false;
};

/// Receives what a connection reads. Called on the connection's strand.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  /// A control message (HELLO, JOB, TASK, RESULT, ...).
  virtual Reception on_message(Connection& connection, Message& message) = 0;
  /// The connection is closed; `reason` says why. Called once.
  virtual void on_closed(Connection& connection, const std::string& reason) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Done = std::function<void(bool written)>;

  /// `tls` null means plain TCP. `socket` must be connected already.
  Connection(asio::io_context& io, tcp::socket socket, asio::ssl::context* tls, bool server_side,
             ConnectionOptions options, std::shared_ptr<spdlog::logger> log);
  ~Connection();

  /// Starts the TLS handshake, then the reader, writer and heartbeat coroutines.
  /// `handler` must outlive the connection's closing.
  void start(std::shared_ptr<ConnectionHandler> handler);

  /// Queues a control message. Thread-safe.
  void send(Message message, Done done = {});
  /// Queues a control message followed by `model`'s stream. The model's tensors are held
  /// until written, then released. Thread-safe.
  void send(Message message, Model model, Done done = {});
  /// Queues `message`, then closes once it is written. Thread-safe.
  void send_and_close(Message message, std::string reason);
  /// A fresh id for a stream of frames passed on from elsewhere (a relay).
  std::uint64_t new_stream_id() { return ++stream_ids_; }
  /// Queues an encoded frame of stream `stream`: the frames of one stream go out in order
  /// and nothing else is written between the one that opens it and the one that closes it.
  /// Thread-safe.
  void send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes, Done done = {});
  /// Closes now (logged with `reason`). Thread-safe; later calls do nothing.
  void close(std::string reason);

  /// Marks the handshake done (stops the handshake deadline). Call it from the handler's
  /// on_message (the connection's strand) only.
  void established();
  /// Resumes reading after a Reception with hold. Thread-safe.
  void release_hold();
  /// The peer's certificate common name (TLS), known once the handshake is done.
  const std::string& peer_name() const { return peer_name_; }
  /// "ip:port" of the peer.
  const std::string& remote() const { return remote_; }
  bool secure() const { return tls_ != nullptr; }
  /// A label for logs (set by the handler: the site name once known).
  void set_label(std::string label);
  const std::string& label() const { return label_; }

 private:
  struct Outgoing {
    std::vector<std::byte> frame;
    std::optional<Model> model;
    Done done;
    bool close_after = false;
    std::string close_reason;
    std::uint64_t stream = 0;
    bool opens = false;
    bool closes = false;
  };
  struct Incoming;

  asio::awaitable<void> run(std::shared_ptr<Connection> self);
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> heartbeat_loop();
  asio::awaitable<void> write_model(const Model& model);
  asio::awaitable<void> read_exact(std::span<std::byte> into);
  template <class Buffers>
  asio::awaitable<void> write_all(const Buffers& buffers);
  void enqueue(Outgoing item);
  void close_on_strand(const std::string& reason);

  Strand strand_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::ssl::context* tls_;
  bool server_side_;
  ConnectionOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<ConnectionHandler> handler_;
  asio::steady_timer wake_writer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer hold_timer_;
  bool held_ = false;
  std::deque<Outgoing> queue_;
  std::unique_ptr<Incoming> incoming_;
  std::vector<std::byte> payload_;
  std::vector<std::byte> staging_;
  std::string peer_name_;
  std::string remote_;
  std::string label_;
  std::chrono::steady_clock::time_point last_read_;
  std::chrono::steady_clock::time_point last_write_;
  std::uint64_t model_bytes_written_ = 0;
  std::atomic<std::uint64_t> stream_ids_{0};
  /// The relayed stream being written (0: none).
  std::uint64_t active_stream_ = 0;
  bool closed_ = false;
  bool established_ = false;
};

}  // namespace cohort::net
