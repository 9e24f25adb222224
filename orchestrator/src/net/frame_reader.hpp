#pragma once
// The receiving half of the wire protocol without any I/O: bytes in, handler and sink calls
// out. The transport asks where the next bytes go (a frame header, a control payload, or
// the destination of a chunk of tensor bytes, so that a model is read straight into its
// tensors) and reports when they are there; the reader enforces the frame grammar and the
// limits and throws ProtocolError on the first violation.
//
//   session = HELLO -> WELCOME | REFUSE, then control frames; any frame announcing a model
//             (has_model) is followed by exactly one model stream:
//   model   = MODEL_BEGIN, (TENSOR, CHUNK*)*, MODEL_END | ... STREAM_ABORT
//   SCALARS frames may come anywhere after the handshake, inside a model stream too.

#include "net/codec.hpp"
#include "net/link.hpp"

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace cohort::net {

class FrameReader {
 public:
  /// Where decoded messages go.
  class Handler {
   public:
    virtual ~Handler() = default;
    /// A control message; the reception says where an announced model goes.
    virtual Reception on_message(Message& message) = 0;
    /// A sink threw: its stream is abandoned and the rest of it read and dropped.
    virtual void on_stream_rejected(const std::string& reason) = 0;
  };

  FrameReader(Limits limits, Handler& handler);
  ~FrameReader();

  /// Where the next bytes go; the transport fills all of it, then calls consume().
  std::span<std::byte> next_buffer();
  /// The bytes of next_buffer() are there. Returns true when reading should pause until
  /// the handler's owner resumes it (a reception with hold, a sink's hold_after_chunk).
  /// Throws ProtocolError when the peer broke the protocol.
  bool consume();

  /// The handshake is done: frames other than HELLO, WELCOME and REFUSE are accepted.
  void set_established() { established_ = true; }
  bool established() const { return established_; }
  /// The transport is gone: an open sink is abandoned with `reason`.
  void abandon(const std::string& reason);

 private:
  enum class Expect { header, payload, chunk };
  struct Stream;

  bool on_header();
  bool on_payload();
  bool on_chunk();
  void on_model_frame(Message& message, FrameType type);
  template <class Fn>
  void sink_call(Fn&& fn);

  Limits limits_;
  Handler& handler_;
  bool established_ = false;
  Expect expect_ = Expect::header;
  std::array<std::byte, kFrameHeaderBytes> header_{};
  FrameType type_ = FrameType::heartbeat;
  std::uint32_t length_ = 0;
  std::vector<std::byte> payload_;
  std::vector<std::byte> staging_;
  std::span<std::byte> chunk_destination_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace cohort::net
