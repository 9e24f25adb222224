#include "mpi/mpi_transport.hpp"

#include "net/model_writer.hpp"
#include "net/write_queue.hpp"

#include <ATen/core/Tensor.h>
#include <mpi.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <utility>

namespace cohort::mpi {

using Clock = std::chrono::steady_clock;

namespace {

void check(int status, const char* call) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw std::runtime_error(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

/// Receives the matched `message` of `bytes` into `scratch` and drops it.
void drop(MPI_Message& message, int bytes, std::vector<std::byte>& scratch) {
  scratch.resize(static_cast<std::size_t>(bytes));
  check(MPI_Mrecv(scratch.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
}

int message_count(std::size_t bytes) {
  if (bytes > static_cast<std::size_t>(INT_MAX))
    throw std::length_error("a piece of " + std::to_string(bytes) + " bytes is too large for one MPI message");
  return static_cast<int>(bytes);
}

}  // namespace

/// One link: the write queue (shared with callers under the transport's mutex), and the
/// progress thread's send state and FrameReader.
class MpiTransport::Link final : public net::Link,
                                 public std::enable_shared_from_this<MpiTransport::Link>,
                                 private net::FrameReader::Handler {
 public:
  Link(MpiTransport& transport, int peer, int tag, std::string label)
      : transport_(transport),
        peer_(peer),
        tag_(tag),
        remote_("rank " + std::to_string(peer)),
        label_(std::move(label)),
        reader_(transport.options_.limits, *this) {}

  // net::Link: callers' side, any thread.
  void start(std::shared_ptr<net::LinkHandler> handler) override {
    std::lock_guard lock(transport_.mutex_);
    handler_ = std::move(handler);
  }
  void send(net::Message message, Done done) override {
    enqueue(net::Outgoing{.frame = net::encode_frame(message), .done = std::move(done)});
  }
  void send(net::Message message, Model model, Done done) override {
    enqueue(net::Outgoing{.frame = net::encode_frame(message), .model = std::move(model), .done = std::move(done)});
  }
  std::uint64_t new_stream_id() override { return ++stream_ids_; }
  void send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes, Done done) override {
    enqueue(net::Outgoing{.frame = std::move(frame), .done = std::move(done), .stream = stream, .opens = opens, .closes = closes});
  }
  void send_and_close(net::Message message, std::string reason) override {
    enqueue(net::Outgoing{.frame = net::encode_frame(message), .close_after = std::move(reason)});
  }
  void close(std::string reason) override {
    std::lock_guard lock(transport_.mutex_);
    if (!close_request_) close_request_ = std::move(reason);
    touch();
  }
  void established() override { reader_.set_established(); }  // from on_message: the progress thread
  void release_hold() override {
    std::lock_guard lock(transport_.mutex_);
    release_requested_ = true;
    touch();
  }
  const std::string& peer_name() const override { return peer_name_; }
  const std::string& remote() const override { return remote_; }
  bool secure() const override { return false; }
  bool closed() const override { return closed_.load(); }
  std::string security() const override { return "MPI, " + transport_.session_.library() + ", " + remote_; }
  void set_label(std::string label) override {
    std::lock_guard lock(transport_.mutex_);
    label_ = std::move(label);
  }
  const std::string& label() const override { return label_; }
  std::shared_ptr<net::Link> share() override { return shared_from_this(); }


  // The progress thread's side.

  /// Acts on close and release requests. Returns whether anything moved.
  bool take_requests() {
    std::optional<std::string> close;
    bool release = false;
    {
      std::lock_guard lock(transport_.mutex_);
      close = std::exchange(close_request_, std::nullopt);
      release = std::exchange(release_requested_, false);
    }
    if (close && !closed_) {
      finish_close(*close, true);
      return true;
    }
    if (release && held_ && !closed_) {
      held_ = false;
      resume();
      return true;
    }
    return false;
  }

  /// Completes and starts sends. Returns whether anything moved.
  bool progress_sends() {
    bool moved = false;
    while (true) {
      while (!flight_.empty()) {
        int flag = 0;
        auto& oldest = flight_.front();
        check(MPI_Testall(oldest.count, oldest.requests, &flag, MPI_STATUSES_IGNORE), "MPI_Testall");
        if (!flag) break;
        flight_.pop_front();
        moved = true;
      }
      if (closed_) {
        if (flight_.empty()) release_current(false);
        return moved;
      }
      if (!current_) {
        if (!pick_next()) return moved;
        moved = true;
        Piece& frame = flight_.emplace_back();
        post(frame, current_->frame.data(), current_->frame.size());
        pieces_left_ = current_->model.has_value();
      }
      while (pieces_left_ && flight_.size() < in_flight_limit_) pieces_left_ = start_next_piece();
      if (pieces_left_ || !flight_.empty()) return moved;
      finish_item();
      moved = true;
    }
  }

  /// Whether sends are under way or waiting.
  bool busy() {
    if (!flight_.empty() || current_) return true;
    std::lock_guard lock(transport_.mutex_);
    return !closed_ && !queue_.empty();
  }
  bool quiet() const { return closed_ && flight_.empty(); }

  /// A message of `bytes` matched for this link.
  void arrived(MPI_Message message, int bytes) {
    if (held_ || !parked_.empty()) {
      parked_.push_back({message, bytes});
      return;
    }
    deliver(message, bytes);
  }

  /// Closes: the queue fails, the reader abandons its stream, the handler hears it; the
  /// peer is told (an empty message, then the reason) unless it told us.
  void finish_close(const std::string& reason, bool tell_peer) {
    if (closed_) return;
    std::deque<net::Outgoing> failed;
    std::shared_ptr<net::LinkHandler> handler;
    {
      std::lock_guard lock(transport_.mutex_);
      closed_ = true;
      failed = queue_.take_all();
      handler = std::move(handler_);
    }
    for (auto& item : failed) {
      if (item.done) item.done(false);
    }
    if (flight_.empty()) release_current(false);
    reader_.abandon("link closed: " + reason);
    while (!parked_.empty()) {
      auto [message, bytes] = parked_.front();
      parked_.pop_front();
      drop(message, bytes, transport_.discard_);
    }
    leftover_.clear();
    if (tell_peer) {
      farewell_ = reason;
      check(MPI_Isend(nullptr, 0, MPI_BYTE, peer_, tag_, MPI_COMM_WORLD, &farewell_requests_[0]), "MPI_Isend");
      check(MPI_Isend(farewell_.data(), message_count(farewell_.size()), MPI_BYTE, peer_, tag_, MPI_COMM_WORLD,
                      &farewell_requests_[1]),
            "MPI_Isend");
      farewell_pending_ = true;
    }
    transport_.log_->info("{}: link closed: {}", label_, reason);
    if (handler) handler->on_closed(*this, reason);
  }

  /// Whether our farewell (if any) is out.
  bool farewell_done() {
    if (!farewell_pending_) return true;
    int flag = 0;
    check(MPI_Testall(2, farewell_requests_, &flag, MPI_STATUSES_IGNORE), "MPI_Testall");
    if (flag) farewell_pending_ = false;
    return flag != 0;
  }

 private:
  /// Pieces of a model in flight at once (when its tensors are contiguous).
  static constexpr std::size_t kPiecesInFlight = 4;

  /// One write in flight: a frame, or a model piece (its header, then its tensor bytes).
  struct Piece {
    std::vector<std::byte> header;
    MPI_Request requests[2]{MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int count = 0;
  };

  void touch() {
    transport_.touched_.push_back(shared_from_this());
    transport_.pending_work_ = true;
    transport_.work_.notify_one();
  }

  void enqueue(net::Outgoing item) {
    {
      std::lock_guard lock(transport_.mutex_);
      if (!closed_) {
        queue_.push(std::move(item));
        touch();
        return;
      }
    }
    if (item.done) item.done(false);
  }

  /// Takes the next item to write (net::WriteQueue keeps a relayed stream's frames together).
  bool pick_next() {
    std::lock_guard lock(transport_.mutex_);
    current_ = queue_.pop();
    return current_.has_value();
  }

  /// One message of `piece`.
  void post(Piece& piece, const void* data, std::size_t bytes) {
    check(MPI_Isend(data, message_count(bytes), MPI_BYTE, peer_, tag_, MPI_COMM_WORLD, &piece.requests[piece.count]),
          "MPI_Isend");
    ++piece.count;
  }

  /// Starts the model's next piece; false when the model has none left.
  bool start_next_piece() {
    if (!writer_) {
      writer_ = std::make_unique<net::ModelWriter>(*current_->model, transport_.options_.chunk_bytes);
      // A contiguous tensor's pieces are its own storage, valid while the model is held:
      // several may be in flight. A non-contiguous one is copied per tensor by the writer,
      // which replaces the copy at the next tensor: one piece at a time then.
      const auto& tensors = current_->model->tensors;
      in_flight_limit_ = std::all_of(tensors.begin(), tensors.end(), [](const auto& t) { return t.tensor.is_contiguous(); })
                             ? kPiecesInFlight
                             : 1;
    }
    auto next = writer_->next();
    if (!next) return false;
    Piece& piece = flight_.emplace_back();
    // The header lives in the writer until its next call: the piece keeps a copy.
    piece.header.assign((*next)[0].begin(), (*next)[0].end());
    post(piece, piece.header.data(), piece.header.size());
    if (!(*next)[1].empty()) post(piece, (*next)[1].data(), (*next)[1].size());
    return true;
  }

  void finish_item() {
    const bool close_after = current_->close_after.has_value();
    const std::string reason = close_after ? *current_->close_after : std::string();
    release_current(true);
    if (close_after) finish_close(reason, true);
  }

  void release_current(bool written) {
    writer_.reset();
    pieces_left_ = false;
    if (!current_) return;
    net::Outgoing item = std::move(*current_);
    current_.reset();
    item.model.reset();  // the sent tensors are released as soon as they are out
    if (item.done) item.done(written);
  }


  void deliver(MPI_Message message, int bytes) {
    if (expect_farewell_) {
      std::string reason(static_cast<std::size_t>(bytes), '\0');
      check(MPI_Mrecv(reason.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
      expect_farewell_ = false;
      if (closed_) return;
      finish_close("the peer closed the link: " + reason, false);
      if (transport_.peer_closed_) transport_.peer_closed_(peer_, tag_, reason);
      return;
    }
    if (bytes == 0) {
      check(MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
      expect_farewell_ = true;  // the reason follows
      return;
    }
    if (closed_) {
      drop(message, bytes, transport_.discard_);
      return;
    }
    try {
      const auto want = reader_.next_buffer();
      if (static_cast<std::size_t>(bytes) <= want.size() - filled_) {
        // Straight into place: a chunk lands in its tensor.
        check(MPI_Mrecv(want.data() + filled_, bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
        filled_ += static_cast<std::size_t>(bytes);
        settle();
      } else {
        leftover_.resize(static_cast<std::size_t>(bytes));
        leftover_at_ = 0;
        check(MPI_Mrecv(leftover_.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
        feed();
      }
    } catch (const net::ProtocolError& e) {
      finish_close(std::string("protocol error: ") + e.what(), true);
    } catch (const std::exception& e) {
      finish_close(e.what(), true);
    }
  }

  /// Hands the reader every buffer that is full (and those that need no bytes).
  void settle() {
    while (!held_ && !closed_) {
      const auto want = reader_.next_buffer();
      if (filled_ < want.size()) return;
      filled_ = 0;
      if (reader_.consume()) held_ = true;
    }
  }

  /// Copies what is left of a received message into the reader's buffers.
  void feed() {
    settle();
    while (!held_ && !closed_ && leftover_at_ < leftover_.size()) {
      const auto want = reader_.next_buffer();
      const std::size_t n = std::min(want.size() - filled_, leftover_.size() - leftover_at_);
      std::memcpy(want.data() + filled_, leftover_.data() + leftover_at_, n);
      filled_ += n;
      leftover_at_ += n;
      settle();
    }
    if (leftover_at_ >= leftover_.size()) leftover_.clear();
  }

  /// Reading resumes: what was left of a message, then the parked messages in order.
  void resume() {
    try {
      feed();
    } catch (const net::ProtocolError& e) {
      finish_close(std::string("protocol error: ") + e.what(), true);
      return;
    } catch (const std::exception& e) {
      finish_close(e.what(), true);
      return;
    }
    while (!held_ && !closed_ && leftover_.empty() && !parked_.empty()) {
      auto [message, bytes] = parked_.front();
      parked_.pop_front();
      deliver(message, bytes);
    }
  }

  // FrameReader::Handler
  net::Reception on_message(net::Message& message) override {
    return handler_ ? handler_->on_message(*this, message) : net::Reception{};
  }
  void on_stream_rejected(const std::string& reason) override {
    transport_.log_->warn("{}: stream rejected: {}", label_, reason);
  }

  MpiTransport& transport_;
  const int peer_;
  const int tag_;
  const std::string remote_;
  const std::string peer_name_;
  std::string label_;
  std::atomic<std::uint64_t> stream_ids_{0};

  // Under the transport's mutex.
  std::shared_ptr<net::LinkHandler> handler_;
  net::WriteQueue queue_;
  std::optional<std::string> close_request_;
  bool release_requested_ = false;
  std::atomic<bool> closed_{false};

  // The progress thread's.
  std::optional<net::Outgoing> current_;
  std::unique_ptr<net::ModelWriter> writer_;
  /// What is being sent, oldest first.
  std::deque<Piece> flight_;
  std::size_t in_flight_limit_ = 1;
  bool pieces_left_ = false;
  net::FrameReader reader_;
  std::size_t filled_ = 0;
  bool held_ = false;
  std::deque<std::pair<MPI_Message, int>> parked_;
  std::vector<std::byte> leftover_;
  std::size_t leftover_at_ = 0;
  bool expect_farewell_ = false;
  std::string farewell_;
  MPI_Request farewell_requests_[2]{MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  bool farewell_pending_ = false;
};

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw std::logic_error("MPI is already initialised in this process");
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw std::runtime_error("the MPI library does not allow MPI calls from a thread other than the main one");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  library_.assign(version, static_cast<std::size_t>(length));
  library_ = library_.substr(0, library_.find_first_of(",\n"));
}

MpiSession::~MpiSession() { MPI_Finalize(); }

std::string MpiSession::broadcast(const std::string& text) const {
  int length = message_count(text.size());
  check(MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? text : std::string(static_cast<std::size_t>(length), '\0');
  check(MPI_Bcast(out.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

int MpiSession::max(int value) const {
  int largest = 0;
  check(MPI_Allreduce(&value, &largest, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return largest;
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // not reached: MPI_Abort does not return
}

MpiTransport::MpiTransport(const MpiSession& session, MpiOptions options, std::shared_ptr<spdlog::logger> log)
    : session_(session), options_(std::move(options)), log_(std::move(log)) {}

MpiTransport::~MpiTransport() {
  if (progress_.joinable()) stop("process ending", std::chrono::seconds(5));
}

std::shared_ptr<net::Link> MpiTransport::open(int peer, int channel, std::string label) {
  if (progress_.joinable()) throw std::logic_error("open every MPI link before the transport starts");
  if (peer < 0 || peer >= session_.size() || channel <= 0)
    throw std::invalid_argument("no MPI link to rank " + std::to_string(peer) + " on channel " + std::to_string(channel));
  auto link = std::make_shared<Link>(*this, peer, channel, std::move(label));
  if (!links_.emplace(std::make_pair(peer, channel), link).second)
    throw std::logic_error("MPI link to rank " + std::to_string(peer) + " on channel " + std::to_string(channel) +
                           " opened twice");
  return link;
}

void MpiTransport::on_peer_closed(std::function<void(int, int, const std::string&)> callback) {
  peer_closed_ = std::move(callback);
}

void MpiTransport::start() {
  progress_ = std::thread([this] {
    try {
      progress_loop();
    } catch (const std::exception& e) {
      // An MPI call failed: the job cannot go on on this rank, nor wait for it.
      log_->critical("MPI transport failed: {}", e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  });
}

void MpiTransport::wake() {
  pending_work_ = true;
  work_.notify_one();
}

void MpiTransport::stop(const std::string& reason, std::chrono::milliseconds grace) {
  if (!progress_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = Clock::now() + grace;
    wake();
  }
  for (auto& [key, link] : links_) link->close(reason);
  progress_.join();
}

bool MpiTransport::quiet() const {
  return std::all_of(links_.begin(), links_.end(), [](const auto& entry) { return entry.second->quiet(); });
}

void MpiTransport::progress_loop() {
  // Hot while there is traffic: while a send is in flight, and for 2 ms after anything
  // moved (the next chunk of a stream is then a few microseconds away). Otherwise wait for a
  // caller (woken at once) or at most `nap`, doubling from 20 us up to 1 ms while idle.
  constexpr auto kStayHot = std::chrono::milliseconds(2);
  constexpr auto kShortestNap = std::chrono::microseconds(20), kLongestNap = std::chrono::microseconds(1000);
  auto last_moved = Clock::now();
  auto nap = kShortestNap;
  while (true) {
    if (progress_once()) {
      last_moved = Clock::now();
      nap = kShortestNap;
      continue;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) {
      bool farewells = true;
      for (auto& [key, link] : links_) farewells = link->farewell_done() && farewells;
      if ((quiet() && farewells) || Clock::now() >= stop_deadline_) break;
    }
    if (!active_.empty() || Clock::now() - last_moved < kStayHot) continue;
    work_.wait_for(lock, nap, [this] { return pending_work_; });
    pending_work_ = false;
    nap = std::min<std::chrono::microseconds>(nap * 2, kLongestNap);
  }
}

bool MpiTransport::progress_once() {
  bool moved = false;
  std::vector<std::shared_ptr<Link>> touched;
  {
    std::lock_guard lock(mutex_);
    touched.swap(touched_);
    pending_work_ = false;
  }
  for (auto& link : touched) {
    moved = link->take_requests() || moved;
    if (std::find(active_.begin(), active_.end(), link) == active_.end()) active_.push_back(link);
  }
  for (auto& link : active_) moved = link->progress_sends() || moved;
  std::erase_if(active_, [](const std::shared_ptr<Link>& link) { return !link->busy(); });
  return take_arrivals() || moved;
}

bool MpiTransport::take_arrivals() {
  constexpr int kBatch = 64;
  for (int i = 0; i < kBatch; ++i) {
    int flag = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    check(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &message, &status), "MPI_Improbe");
    if (!flag) return i > 0;
    int bytes = 0;
    MPI_Get_count(&status, MPI_BYTE, &bytes);
    auto it = links_.find({status.MPI_SOURCE, status.MPI_TAG});
    if (it == links_.end()) {
      log_->warn("MPI: dropped a message of {} bytes from rank {} on channel {}, which has no link here", bytes,
                 status.MPI_SOURCE, status.MPI_TAG);
      drop(message, bytes, discard_);
      continue;
    }
    it->second->arrived(message, bytes);
    // Sends whose peer just read something may move on now.
  }
  return true;
}

}  // namespace cohort::mpi
