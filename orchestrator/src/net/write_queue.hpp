#pragma once
// A link's queue of things to write, whatever carries them (TCP, MPI), with the one rule of
// relayed streams: while a relayed stream is open, only that stream's frames go out, so
// nothing is written between the frame that opens it and the one that closes it; and the
// one exception to a model's frames going out together: a small frame marked
// between_chunks may be written between two of its chunks, so that it does not wait for
// a model of gigabytes.

#include <cohort/model.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cohort::net {

/// One item of the queue: an encoded frame, and the model that follows it, if any.
struct Outgoing {
  std::vector<std::byte> frame{};
  std::optional<Model> model{};
  /// Told whether the item went out whole (false: the link closed first).
  std::function<void(bool written)> done{};
  /// Close once written, with this reason.
  std::optional<std::string> close_after{};
  /// A relayed stream's id (0: none), and whether this frame opens or closes it.
  std::uint64_t stream = 0;
  bool opens = false;
  bool closes = false;
  /// A frame that may go out between the chunks of a model being written (SCALARS).
  bool between_chunks = false;
};

class WriteQueue {
 public:
  void push(Outgoing item) { items_.push_back(std::move(item)); }
  bool empty() const { return items_.empty(); }
  /// The next item to write; nothing when the queue is empty or holds only other frames
  /// while a relayed stream is open.
  std::optional<Outgoing> pop();
  /// The next item that may go out between the chunks of the model being written.
  std::optional<Outgoing> pop_between_chunks();
  /// Every item still queued, in order (the link closed: they fail).
  std::deque<Outgoing> take_all();

 private:
  std::deque<Outgoing> items_;
  std::uint64_t active_stream_ = 0;
};

}  // namespace cohort::net
