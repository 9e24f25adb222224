#include "net/connection.hpp"

#include "net/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace cohort::net {

using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

/// State of the model stream being read, if any.
struct Connection::Incoming {
  /// A TASK or RESULT announced a model: the next frame must be MODEL_BEGIN.
  bool expecting_model = false;
  bool in_model = false;
  bool in_tensor = false;
  /// Where the stream goes (null: discarded, because the handler wants none or it failed).
  std::unique_ptr<ResultSink> sink;
  std::uint32_t tensors_total = 0;
  std::uint32_t tensors_seen = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_seen = 0;
  TensorInfo tensor;
  std::uint64_t tensor_received = 0;
  std::size_t element_size = 1;
};

namespace {

std::string describe(const boost::system::error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "peer closed the connection";
  if (ec == asio::error::connection_reset) return "connection reset by peer";
  return ec.message();
}

}  // namespace

// asio's ssl::stream needs a context even when it only carries plain TCP.
static asio::ssl::context& plain_context() {
  static asio::ssl::context context(asio::ssl::context::tls);
  return context;
}

Connection::Connection(asio::io_context& io, tcp::socket socket, asio::ssl::context* tls,
                       bool server_side, ConnectionOptions options,
                       std::shared_ptr<spdlog::logger> log)
    : strand_(asio::make_strand(io)),
      stream_(std::move(socket), tls ? *tls : plain_context()),
      tls_(tls),
      server_side_(server_side),
      options_(options),
      log_(std::move(log)),
      wake_writer_(strand_),
      heartbeat_timer_(strand_),
      hold_timer_(strand_),
      incoming_(std::make_unique<Incoming>()) {
  boost::system::error_code ec;
  auto endpoint = stream_.next_layer().remote_endpoint(ec);
  remote_ = ec ? std::string("unknown") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  label_ = remote_;
  last_read_ = last_write_ = Clock::now();
}

Connection::~Connection() = default;

void Connection::set_label(std::string label) { label_ = std::move(label); }

void Connection::start(std::shared_ptr<ConnectionHandler> handler) {
  handler_ = std::move(handler);
  asio::co_spawn(strand_, run(shared_from_this()), asio::detached);
}

void Connection::established() {
  // Called by handlers from on_message, on the strand: the very next frame must already
  // count as after the handshake, so no post.
  established_ = true;
}

void Connection::release_hold() {
  asio::post(strand_, [self = shared_from_this()] {
    self->held_ = false;
    self->last_read_ = Clock::now();
    self->hold_timer_.cancel();
  });
}

asio::awaitable<void> Connection::run(std::shared_ptr<Connection> self) {
  auto on_done = [self](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
      self->close_on_strand(describe(error.code()));
    } catch (const std::exception& error) {
      self->close_on_strand(error.what());
    }
  };
  asio::co_spawn(strand_, heartbeat_loop(), on_done);
  try {
    if (tls_) {
      co_await stream_.async_handshake(server_side_ ? asio::ssl::stream_base::server
                                                    : asio::ssl::stream_base::client,
                                       use_awaitable);
      peer_name_ = peer_common_name(stream_.native_handle());
    }
    asio::co_spawn(strand_, write_loop(), on_done);
    co_await read_loop();
  } catch (const ProtocolError& e) {
    close_on_strand(std::string("protocol error: ") + e.what());
  } catch (const boost::system::system_error& e) {
    if (tls_ && !established_ && e.code().category() == asio::error::get_ssl_category())
      close_on_strand("TLS handshake failed: " + e.code().message());
    else
      close_on_strand(describe(e.code()));
  } catch (const std::exception& e) {
    close_on_strand(e.what());
  }
}

asio::awaitable<void> Connection::read_exact(std::span<std::byte> into) {
  if (tls_) co_await asio::async_read(stream_, asio::buffer(into.data(), into.size()), use_awaitable);
  else co_await asio::async_read(stream_.next_layer(), asio::buffer(into.data(), into.size()), use_awaitable);
  last_read_ = Clock::now();
}

template <class Buffers>
asio::awaitable<void> Connection::write_all(const Buffers& buffers) {
  if (tls_) co_await asio::async_write(stream_, buffers, use_awaitable);
  else co_await asio::async_write(stream_.next_layer(), buffers, use_awaitable);
  last_write_ = Clock::now();
}

asio::awaitable<void> Connection::read_loop() {
  std::array<std::byte, kFrameHeaderBytes> header{};
  const Limits& limits = options_.limits;
  Incoming& in = *incoming_;
  // Calls into the sink; a sink that throws rejects its stream, the connection goes on
  // (the rest of the stream is read and dropped).
  auto sink_call = [&](auto&& fn) {
    if (!in.sink) return;
    try {
      fn(*in.sink);
    } catch (const std::exception& e) {
      log_->warn("{}: stream rejected: {}", label_, e.what());
      in.sink->abandon(e.what());
      in.sink.reset();
    }
  };

  while (!closed_) {
    co_await read_exact(header);
    const auto [type, length] = decode_header(header);

    if (type != FrameType::chunk) {
      if (length > limits.max_control_bytes) {
        throw ProtocolError(std::string(to_string(type)) + " frame of " + std::to_string(length) +
                            " bytes exceeds the limit of " + std::to_string(limits.max_control_bytes));
      }
      payload_.resize(length);
      co_await read_exact(payload_);
      Message message = decode(type, payload_, limits);
      if (!established_ && type != FrameType::hello && type != FrameType::welcome && type != FrameType::refuse)
        throw ProtocolError(std::string(to_string(type)) + " frame before the handshake");
      if (std::holds_alternative<Heartbeat>(message)) continue;

      if (auto* abort = std::get_if<StreamAbort>(&message)) {
        if (!in.in_model) throw ProtocolError("STREAM_ABORT frame outside a model stream");
        if (in.sink) in.sink->abandon("the stream's source is gone: " + abort->reason);
        in.sink.reset();
        in.in_model = in.in_tensor = false;
        staging_ = {};
        continue;
      }

      if (in.expecting_model) {
        const auto* begin = std::get_if<ModelBegin>(&message);
        if (!begin) throw ProtocolError(std::string("expected MODEL_BEGIN, got ") + to_string(type));
        in.expecting_model = false;
        in.in_model = true;
        in.tensors_total = begin->tensors;
        in.bytes_total = begin->total_bytes;
        in.tensors_seen = 0;
        in.bytes_seen = 0;
        sink_call([&](ResultSink& s) { s.begin_model(begin->tensors, begin->total_bytes); });
      } else if (in.in_model) {
        if (in.in_tensor) {
          throw ProtocolError(std::string(to_string(type)) + " frame inside tensor '" + in.tensor.name +
                              "' with " + std::to_string(in.tensor.nbytes - in.tensor_received) +
                              " of its bytes missing");
        }
        if (auto* tensor = std::get_if<TensorInfo>(&message)) {
          if (in.tensors_seen == in.tensors_total)
            throw ProtocolError("more tensors than the " + std::to_string(in.tensors_total) + " announced");
          if (tensor->nbytes > in.bytes_total - in.bytes_seen)
            throw ProtocolError("tensor '" + tensor->name + "' overruns the model's announced size");
          tensor->index = in.tensors_seen;
          in.tensor = std::move(*tensor);
          in.tensor_received = 0;
          in.element_size = c10::elementSize(in.tensor.dtype);
          in.in_tensor = true;
          sink_call([&](ResultSink& s) { s.begin_tensor(in.tensor); });
          if (in.tensor.nbytes == 0) {
            in.in_tensor = false;
            ++in.tensors_seen;
            sink_call([](ResultSink& s) { s.end_tensor(); });
          }
        } else if (std::holds_alternative<ModelEnd>(message)) {
          if (in.tensors_seen != in.tensors_total || in.bytes_seen != in.bytes_total)
            throw ProtocolError("model ended after " + std::to_string(in.tensors_seen) + " of " +
                                std::to_string(in.tensors_total) + " tensors");
          in.in_model = false;
          sink_call([](ResultSink& s) { s.commit(); });
          in.sink.reset();
          staging_ = {};
        } else {
          throw ProtocolError(std::string(to_string(type)) + " frame inside a model stream");
        }
      } else {
        if (type == FrameType::model_begin || type == FrameType::tensor || type == FrameType::model_end)
          throw ProtocolError(std::string(to_string(type)) + " frame outside a model stream");
        bool has_model = false;
        if (auto* task = std::get_if<TaskHeader>(&message)) has_model = task->has_model;
        if (auto* result = std::get_if<ResultHeader>(&message)) has_model = result->has_model;
        if (auto* relay = std::get_if<Relay>(&message)) has_model = relay->has_model;
        if (auto* deliver = std::get_if<Deliver>(&message)) has_model = deliver->has_model;
        if (auto* report = std::get_if<Report>(&message)) has_model = report->has_model;
        Reception reception = handler_ ? handler_->on_message(*this, message) : Reception{};
        if (has_model) {
          in.expecting_model = true;
          in.sink = std::move(reception.sink);
        }
        if (reception.hold) {
          held_ = true;
          while (held_ && !closed_) {
            hold_timer_.expires_at(Clock::time_point::max());
            boost::system::error_code ec;
            co_await hold_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
          }
        }
      }
      continue;
    }

    // CHUNK: raw tensor bytes, read straight into their destination.
    if (!in.in_tensor) throw ProtocolError("CHUNK frame outside a tensor");
    if (length == 0) throw ProtocolError("empty CHUNK frame");
    if (length > limits.max_chunk_bytes)
      throw ProtocolError("CHUNK of " + std::to_string(length) + " bytes exceeds the limit of " +
                          std::to_string(limits.max_chunk_bytes));
    if (length > in.tensor.nbytes - in.tensor_received)
      throw ProtocolError("CHUNK overruns tensor '" + in.tensor.name + "'");
    if (length % in.element_size != 0)
      throw ProtocolError("CHUNK splits an element of tensor '" + in.tensor.name + "'");
    const std::uint64_t offset = in.tensor_received;
    std::span<std::byte> destination;
    sink_call([&](ResultSink& s) { destination = s.chunk_destination(offset, length); });
    if (destination.size() != length) {
      if (staging_.size() < length) staging_.resize(length);
      destination = std::span<std::byte>(staging_.data(), length);
    }
    co_await read_exact(destination);
    sink_call([&](ResultSink& s) { s.chunk_received(offset, destination); });
    in.tensor_received += length;
    in.bytes_seen += length;
    if (in.tensor_received == in.tensor.nbytes) {
      in.in_tensor = false;
      ++in.tensors_seen;
      sink_call([](ResultSink& s) { s.end_tensor(); });
    }
    bool hold = false;
    sink_call([&](ResultSink& s) { hold = s.hold_after_chunk(); });
    if (hold) {
      held_ = true;
      while (held_ && !closed_) {
        hold_timer_.expires_at(Clock::time_point::max());
        boost::system::error_code ec;
        co_await hold_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
      }
    }
  }
}

asio::awaitable<void> Connection::write_model(const Model& model) {
  ModelBegin begin{static_cast<std::uint32_t>(model.tensors.size()), model.byte_size()};
  co_await write_all(asio::buffer(encode_frame(begin)));
  for (const auto& named : model.tensors) {
    const at::Tensor tensor = named.tensor.is_contiguous() ? named.tensor : named.tensor.contiguous();
    TensorInfo info{named.name, tensor.scalar_type(), tensor.sizes().vec(),
                    static_cast<std::uint64_t>(tensor.nbytes()), 0};
    co_await write_all(asio::buffer(encode_frame(info)));
    const std::size_t element = tensor.element_size();
    const std::size_t chunk = std::max(element, options_.chunk_bytes / element * element);
    const auto* data = static_cast<const std::byte*>(tensor.data_ptr());
    for (std::uint64_t offset = 0; offset < info.nbytes;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, info.nbytes - offset));
      const auto header = encode_header(FrameType::chunk, static_cast<std::uint32_t>(n));
      const std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(data + offset, n)};
      co_await write_all(buffers);
      offset += n;
      model_bytes_written_ += n;
      if (options_.kill_after_model_bytes && model_bytes_written_ >= options_.kill_after_model_bytes) {
        // Cut the stream here (FIN after the bytes written so far), give the peer a moment
        // to read them, then die. A bare SIGKILL would reset the connection and the peer
        // would lose a kernel-dependent part of what was written: same cut, less exact.
        log_->warn("fault injection: cutting the stream and killing this process after {} model bytes",
                   model_bytes_written_);
        log_->flush();
        boost::system::error_code ignored;
        stream_.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        std::raise(SIGKILL);
      }
    }
  }
  co_await write_all(asio::buffer(encode_frame(ModelEnd{})));
}

asio::awaitable<void> Connection::write_loop() {
  // The next item to write: while a relayed stream is open, only that stream's frames.
  auto next = [this]() -> std::optional<std::deque<Outgoing>::iterator> {
    if (queue_.empty()) return std::nullopt;
    if (active_stream_ == 0) return queue_.begin();
    auto it = std::find_if(queue_.begin(), queue_.end(), [this](const Outgoing& o) { return o.stream == active_stream_; });
    if (it == queue_.end()) return std::nullopt;
    return it;
  };
  while (true) {
    std::optional<std::deque<Outgoing>::iterator> pick;
    while (!(pick = next())) {
      if (closed_) co_return;
      wake_writer_.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await wake_writer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (closed_) co_return;
    Outgoing item = std::move(**pick);
    queue_.erase(*pick);
    if (item.opens) active_stream_ = item.stream;
    if (item.closes && item.stream == active_stream_) active_stream_ = 0;
    try {
      co_await write_all(asio::buffer(item.frame));
      if (item.model) co_await write_model(*item.model);
    } catch (...) {
      if (item.done) item.done(false);
      throw;
    }
    item.model.reset();  // the sent tensors are released as soon as they are on the wire
    if (item.done) item.done(true);
    if (item.close_after) {
      close_on_strand(item.close_reason);
      co_return;
    }
  }
}

asio::awaitable<void> Connection::heartbeat_loop() {
  const Timing& timing = options_.timing;
  const auto started = Clock::now();
  const auto tick = std::min(timing.heartbeat_interval, std::chrono::milliseconds(1000));
  while (!closed_) {
    heartbeat_timer_.expires_after(tick);
    boost::system::error_code ec;
    co_await heartbeat_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (closed_) co_return;
    const auto now = Clock::now();
    if (!established_ && now - started > timing.handshake_timeout) {
      close_on_strand("no handshake within " + std::to_string(timing.handshake_timeout.count()) + " ms");
      co_return;
    }
    if (established_ && !held_ && now - last_read_ > timing.idle_timeout) {
      close_on_strand("peer silent for " + std::to_string(timing.idle_timeout.count()) + " ms");
      co_return;
    }
    if (established_ && queue_.empty() && now - last_write_ >= timing.heartbeat_interval) {
      enqueue(Outgoing{encode_frame(Heartbeat{}), std::nullopt, {}, false, {}, 0, false, false});
    }
  }
}

void Connection::enqueue(Outgoing item) {
  if (closed_) {
    if (item.done) item.done(false);
    return;
  }
  queue_.push_back(std::move(item));
  wake_writer_.cancel();
}

void Connection::send(Message message, Done done) {
  Outgoing item{encode_frame(message), std::nullopt, std::move(done), false, {}, 0, false, false};
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->enqueue(std::move(item));
  });
}

void Connection::send(Message message, Model model, Done done) {
  Outgoing item{encode_frame(message), std::move(model), std::move(done), false, {}, 0, false, false};
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->enqueue(std::move(item));
  });
}

void Connection::send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes, Done done) {
  Outgoing item{std::move(frame), std::nullopt, std::move(done), false, {}, stream, opens, closes};
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->enqueue(std::move(item));
  });
}

void Connection::send_and_close(Message message, std::string reason) {
  Outgoing item{encode_frame(message), std::nullopt, {}, true, std::move(reason), 0, false, false};
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->enqueue(std::move(item));
  });
}

void Connection::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)] { self->close_on_strand(reason); });
}

void Connection::close_on_strand(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.next_layer().close(ignored);
  wake_writer_.cancel();
  heartbeat_timer_.cancel();
  hold_timer_.cancel();
  if (incoming_->sink) {
    incoming_->sink->abandon("connection closed: " + reason);
    incoming_->sink.reset();
  }
  for (auto& item : queue_) {
    if (item.done) item.done(false);
  }
  queue_.clear();
  log_->info("{}: connection closed: {}", label_, reason);
  if (auto handler = std::move(handler_)) handler->on_closed(*this, reason);
}

}  // namespace cohort::net
