#pragma once
// The transport seam: one peer, whatever carries the bytes. The server's site sessions and
// a client's site links talk to a Link and hear from it through a LinkHandler; the Asio +
// TLS Connection is one implementation, and another transport (MPI) is one more, without
// a change to a controller, the job runner or the client's task loop.

#include "net/protocol.hpp"

#include <cohort/model.hpp>
#include <cohort/stream.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cohort::net {

class Link;

/// What a handler says about a message it got.
struct Reception {
  /// Where the model that follows goes (a message with has_model); null drops it.
  std::unique_ptr<ResultSink> sink;
  /// Stop reading until Link::release_hold(): the model waits in the peer's socket
  /// (back-pressure) instead of in memory until the handler is ready for it.
  bool hold = false;
};

/// Receives what a link reads, one call at a time.
class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  /// A control message (HELLO, JOB, TASK, RESULT, ...).
  virtual Reception on_message(Link& link, Message& message) = 0;
  /// The link is closed; `reason` says why. Called once.
  virtual void on_closed(Link& link, const std::string& reason) = 0;
};

/// One peer connection. Every method is thread-safe unless it says otherwise.
class Link {
 public:
  /// Whether a queued item went out whole (false: the link closed first).
  using Done = std::function<void(bool written)>;
  virtual ~Link() = default;

  /// Starts the link (handshake, reading); `handler` hears of it until on_closed.
  virtual void start(std::shared_ptr<LinkHandler> handler) = 0;
  /// Queues a control message.
  virtual void send(Message message, Done done = {}) = 0;
  /// Queues a control message followed by `model`'s stream, written chunk by chunk from
  /// tensor storage. The model's tensors are held until written, then released.
  virtual void send(Message message, Model model, Done done = {}) = 0;
  /// A fresh id for a stream of frames passed on from elsewhere (a relay).
  virtual std::uint64_t new_stream_id() = 0;
  /// Queues an encoded frame of stream `stream`: the frames of one stream go out in order
  /// and nothing else is written between the one that opens it and the one that closes it.
  virtual void send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes,
                          Done done = {}) = 0;
  /// Queues `message`, then closes once it is written.
  virtual void send_and_close(Message message, std::string reason) = 0;
  /// Closes now (logged with `reason`); later calls do nothing.
  virtual void close(std::string reason) = 0;
  /// Whether the link is closed, or closing: true from before the stream it was reading is
  /// abandoned (so a sink can tell a cut link from a stream that ended otherwise).
  virtual bool closed() const = 0;

  /// Marks the handshake done. Call it from the handler's on_message only.
  virtual void established() = 0;
  /// Resumes reading after a Reception with hold (or a sink's hold_after_chunk).
  virtual void release_hold() = 0;

  /// The peer's authenticated name (its certificate's common name; "" when none).
  virtual const std::string& peer_name() const = 0;
  /// Where the peer is, for logs ("ip:port", "rank 3").
  virtual const std::string& remote() const = 0;
  /// Whether the peer is authenticated and the bytes encrypted.
  virtual bool secure() const = 0;
  /// How the bytes travel, for logs: "mutual TLS, TLS_AES_128_GCM_SHA256", "plain TCP".
  virtual std::string security() const = 0;
  /// A label for logs (the site name once known).
  virtual void set_label(std::string label) = 0;
  virtual const std::string& label() const = 0;

  /// This link as a shared pointer (links are always owned by shared pointers).
  virtual std::shared_ptr<Link> share() = 0;
};

}  // namespace cohort::net
