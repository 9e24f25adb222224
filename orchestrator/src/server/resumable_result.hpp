#pragma once
// A result stream that survives its connection. The server folds a result into the
// controller's reducer chunk by chunk as it arrives; when the site's connection drops in
// the middle, those chunks are already folded and cannot be taken back. So the reducer's
// sink is kept, with how far the stream got, instead of being abandoned: when the site
// reconnects (within the server's grace period) and sends the same result again, the
// bytes the sink already has are skipped and the rest goes on into it, so every byte
// counts exactly once. If the site does not come back, the sink is abandoned then, and
// the result counts for what it delivered, as without a grace period.
//
// Without I/O: the connection calls the sinks (`attach` gives one per stream), the site
// session decides what a cut means (SiteSession, Server).

#include <cohort/stream.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace cohort::server {

class ResumableResult : public std::enable_shared_from_this<ResumableResult> {
 public:
  /// `inner` is the reducer's sink for this result (never null).
  explicit ResumableResult(std::unique_ptr<ResultSink> inner);

  /// A sink for one stream of the result: the first as it arrives, then each resend after
  /// a reconnect. Attaching a new one detaches the previous (its calls are ignored from
  /// then on), and the new one skips what the inner sink already has. `link_closed` tells
  /// the sink whether its stream's link has closed when the stream is abandoned: a stream
  /// cut by its link is kept for a resend (is_cut()); any other end is passed on, and then
  /// `ended` is called (the result arrived whole, or was refused: either way the site need
  /// not send it again).
  std::unique_ptr<ResultSink> attach(std::function<bool()> link_closed, std::function<void()> ended = {});

  /// Whether the stream was cut by its link and waits for a resend.
  bool is_cut() const;
  /// Whether the inner sink got the whole result or was abandoned: nothing more to do.
  bool finished() const;
  /// Abandons the inner sink (the site did not come back, or came back without the
  /// result): the result counts for what it delivered.
  void abandon(const std::string& reason);

  /// Where the delivered bytes end: whole tensors, and bytes of the one after them.
  std::size_t tensors_done() const;
  std::uint64_t bytes_in_tensor() const;

 private:
  class Stream;
  friend class Stream;

  mutable std::mutex mutex_;
  std::unique_ptr<ResultSink> inner_;
  /// The stream that may feed the inner sink (attach() bumps it).
  std::uint64_t generation_ = 0;
  bool began_model_ = false;
  /// Tensors the inner sink has whole; whether it is inside the next one, and how far.
  std::size_t tensors_done_ = 0;
  bool in_tensor_ = false;
  std::uint64_t bytes_in_tensor_ = 0;
  bool cut_ = false;
};

}  // namespace cohort::server
