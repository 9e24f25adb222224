#include "net/connection.hpp"
#include "net/traffic.hpp"

#include "net/model_writer.hpp"
#include "tls/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <algorithm>

namespace cohort::net {

using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace {

std::string describe(const boost::system::error_code& ec) {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "peer closed the connection";
  if (ec == asio::error::connection_reset) return "connection reset by peer";
  return ec.message();
}

}  // namespace

Connection::Connection(asio::io_context& io, tcp::socket socket, asio::ssl::context* tls, bool server_side,
                       ConnectionOptions options, std::shared_ptr<spdlog::logger> log)
    : strand_(asio::make_strand(io)),
      socket_(std::move(socket)),
      tls_(tls),
      server_side_(server_side),
      options_(std::move(options)),
      log_(std::move(log)),
      reader_(options_.limits, *this),
      wake_writer_(strand_),
      heartbeat_timer_(strand_),
      hold_timer_(strand_) {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("unknown") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  label_ = remote_;
  last_read_ = last_write_ = Clock::now();
}

Connection::~Connection() = default;

void Connection::set_label(std::string label) { label_ = std::move(label); }

void Connection::start(std::shared_ptr<LinkHandler> handler) {
  handler_ = std::move(handler);
  asio::co_spawn(strand_, run(shared_from_this()), asio::detached);
}

void Connection::established() {
  // Called by handlers from on_message, on the strand: the very next frame must already
  // count as after the handshake, so no post.
  reader_.set_established();
}

void Connection::release_hold() {
  asio::post(strand_, [self = shared_from_this()] {
    self->held_ = false;
    self->last_read_ = Clock::now();
    self->hold_timer_.cancel();
  });
}

Reception Connection::on_message(Message& message) {
  return handler_ ? handler_->on_message(*this, message) : Reception{};
}

void Connection::on_stream_rejected(const std::string& reason) {
  log_->warn("{}: stream rejected: {}", label_, reason);
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
      channel_ = std::make_unique<TlsChannel>(socket_, tls_->native_handle(), server_side_);
      co_await channel_->handshake();
      peer_name_ = tls::peer_common_name(channel_->native_handle());
      cipher_ = tls::cipher_name(channel_->native_handle());
    }
    asio::co_spawn(strand_, write_loop(), on_done);
    co_await read_loop();
  } catch (const ProtocolError& e) {
    close_on_strand(std::string("protocol error: ") + e.what());
  } catch (const boost::system::system_error& e) {
    if (tls_ && !reader_.established() && e.code().category() == asio::error::get_ssl_category())
      close_on_strand("TLS handshake failed: " + e.code().message());
    else
      close_on_strand(describe(e.code()));
  } catch (const std::exception& e) {
    close_on_strand(e.what());
  }
}

asio::awaitable<void> Connection::read_exact(std::span<std::byte> into) {
  if (channel_) co_await channel_->read_exact(into);
  else co_await asio::async_read(socket_, asio::buffer(into.data(), into.size()), use_awaitable);
  count_received(into.size());
  last_read_ = Clock::now();
}

asio::awaitable<void> Connection::write_all(std::span<const asio::const_buffer> buffers) {
  if (channel_) co_await channel_->write_all(buffers);
  else co_await asio::async_write(socket_, buffers, use_awaitable);
  count_sent(asio::buffer_size(buffers));
  last_write_ = Clock::now();
}

asio::awaitable<void> Connection::read_loop() {
  while (!closed_) {
    co_await read_exact(reader_.next_buffer());
    if (!reader_.consume()) continue;
    // The handler or a sink asked for a pause: the peer's bytes wait in its socket.
    held_ = true;
    while (held_ && !closed_) {
      hold_timer_.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await hold_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
}

void Connection::cut_stream() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> Connection::write_model(const Model& model) {
  ModelWriter writer(model, options_.chunk_bytes);
  const std::function<void()> cut = [this] { cut_stream(); };
  const std::uint64_t before = model_bytes_written_;
  while (auto piece = writer.next()) {
    const std::array<asio::const_buffer, 2> buffers{asio::buffer((*piece)[0].data(), (*piece)[0].size()),
                                                    asio::buffer((*piece)[1].data(), (*piece)[1].size())};
    co_await write_all(buffers);
    model_bytes_written_ = before + writer.model_bytes();
    if (options_.on_model_bytes && !(*piece)[1].empty()) options_.on_model_bytes(model_bytes_written_, cut);
    while (auto between = queue_.pop_between_chunks()) co_await write_item(std::move(*between));
  }
}

asio::awaitable<void> Connection::write_item(Outgoing item) {
  try {
    co_await write_all(std::array{asio::const_buffer(asio::buffer(item.frame))});
    if (item.model) co_await write_model(*item.model);
  } catch (...) {
    if (item.done) item.done(false);
    throw;
  }
  item.model.reset();  // the sent tensors are released as soon as they are on the wire
  if (item.done) item.done(true);
}

asio::awaitable<void> Connection::write_loop() {
  while (true) {
    std::optional<Outgoing> pick;
    while (!(pick = queue_.pop())) {
      if (closed_) co_return;
      wake_writer_.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await wake_writer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (closed_) co_return;
    auto close_after = std::move(pick->close_after);
    co_await write_item(std::move(*pick));
    if (close_after) {
      close_on_strand(*close_after);
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
    const bool established = reader_.established();
    if (!established && now - started > timing.handshake_timeout) {
      close_on_strand("no handshake within " + std::to_string(timing.handshake_timeout.count()) + " ms");
      co_return;
    }
    if (established && !held_ && now - last_read_ > timing.idle_timeout) {
      close_on_strand("peer silent for " + std::to_string(timing.idle_timeout.count()) + " ms");
      co_return;
    }
    if (established && queue_.empty() && now - last_write_ >= timing.heartbeat_interval) {
      enqueue(Outgoing{.frame = encode_frame(Heartbeat{})});
    }
  }
}

void Connection::enqueue(Outgoing item) {
  if (closed_) {
    if (item.done) item.done(false);
    return;
  }
  queue_.push(std::move(item));
  wake_writer_.cancel();
}

void Connection::post(Outgoing item) {
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable { self->enqueue(std::move(item)); });
}

void Connection::send(Message message, Done done) {
  // A site's scalars do not wait for a model being written: they go between its chunks.
  const bool between_chunks = std::holds_alternative<Scalars>(message);
  post(Outgoing{.frame = encode_frame(message), .done = std::move(done), .between_chunks = between_chunks});
}

void Connection::send(Message message, Model model, Done done) {
  post(Outgoing{.frame = encode_frame(message), .model = std::move(model), .done = std::move(done)});
}

void Connection::send_frame(std::vector<std::byte> frame, std::uint64_t stream, bool opens, bool closes, Done done) {
  post(Outgoing{.frame = std::move(frame), .done = std::move(done), .stream = stream, .opens = opens, .closes = closes});
}

void Connection::send_and_close(Message message, std::string reason) {
  post(Outgoing{.frame = encode_frame(message), .close_after = std::move(reason)});
}

void Connection::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)] { self->close_on_strand(reason); });
}

void Connection::close_on_strand(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  wake_writer_.cancel();
  heartbeat_timer_.cancel();
  hold_timer_.cancel();
  reader_.abandon("connection closed: " + reason);
  for (auto& item : queue_.take_all()) {
    if (item.done) item.done(false);
  }
  log_->info("{}: connection closed: {}", label_, reason);
  if (auto handler = std::move(handler_)) handler->on_closed(*this, reason);
}

std::string Connection::security() const {
  if (!tls_) return "plain TCP";
  return "mutual TLS, " + cipher_ + (channel_ && channel_->kernel_tls() ? ", sealed by the kernel (kTLS)" : "");
}

}  // namespace cohort::net
