#include "net/tls_channel.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <openssl/err.h>

#include <cerrno>
#include <csignal>
#include <stdexcept>

namespace cohort::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// Records to send are sealed into a buffer this large before one send(); received bytes
/// are read ahead as far as this too (up to 16 records a system call either way).
constexpr long kBufferBytes = 256 * 1024;

[[noreturn]] void throw_ssl(unsigned long error) {
  throw boost::system::system_error(boost::system::error_code(static_cast<int>(error), asio::error::get_ssl_category()));
}

[[noreturn]] void throw_eof() { throw boost::system::system_error(asio::error::eof); }

/// Before every OpenSSL call: once the connection closed the socket, its descriptor number
/// may already belong to another file, which OpenSSL must never touch.
void check_open(const tcp::socket& socket) {
  if (!socket.is_open()) throw boost::system::system_error(asio::error::operation_aborted);
}

}  // namespace

TlsChannel::TlsChannel(tcp::socket& socket, SSL_CTX* context, bool server_side)
    : socket_(socket), ssl_(SSL_new(context), SSL_free) {
  if (!ssl_) throw_ssl(ERR_get_error());
  // OpenSSL writes the socket with write(), which raises SIGPIPE (and ends the process)
  // when the peer has gone; asio's own sends avoid it with MSG_NOSIGNAL. Ignored once for
  // the process, the peer's departure arrives as the error EPIPE on this connection only.
  static const bool sigpipe_ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
  (void)sigpipe_ignored;
  socket_.non_blocking(true);
  BIO* raw = BIO_new_socket(static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  if (!raw) throw_ssl(ERR_get_error());
  SSL_set_bio(ssl_.get(), raw, raw);
  // Where the kernel offers TLS (the "tls" TCP upper-layer protocol), OpenSSL hands it the
  // keys after the handshake and the kernel seals the records; elsewhere nothing changes.
  SSL_set_options(ssl_.get(), SSL_OP_ENABLE_KTLS);
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_default_read_buffer_len(ssl_.get(), kBufferBytes);
  if (server_side) SSL_set_accept_state(ssl_.get());
  else SSL_set_connect_state(ssl_.get());
}

void TlsChannel::buffer_writes() {
  BIO* raw = SSL_get_rbio(ssl_.get());
  BIO* buffer = BIO_new(BIO_f_buffer());
  if (!buffer || BIO_set_write_buffer_size(buffer, kBufferBytes) != 1) {
    BIO_free(buffer);
    throw_ssl(ERR_get_error());
  }
  // SSL_set_bio took one reference to the socket BIO for reading and one for writing;
  // SSL_set0_wbio drops the writing one, and the buffer chain needs one of its own.
  BIO_up_ref(raw);
  BIO_push(buffer, raw);
  SSL_set0_wbio(ssl_.get(), buffer);
  write_buffer_ = buffer;
}

asio::awaitable<void> TlsChannel::wait_or_throw(int ssl_error, int system_error) {
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
      co_await socket_.async_wait(tcp::socket::wait_read, asio::use_awaitable);
      co_return;
    case SSL_ERROR_WANT_WRITE:
      co_await socket_.async_wait(tcp::socket::wait_write, asio::use_awaitable);
      co_return;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      throw_eof();
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        if (system_error == 0) throw_eof();
        throw boost::system::system_error(boost::system::error_code(system_error, boost::system::system_category()));
      }
      [[fallthrough]];
    default: {
      const unsigned long error = ERR_get_error();
      if (ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING) throw_eof();
      throw_ssl(error);
    }
  }
}

asio::awaitable<void> TlsChannel::handshake() {
  while (true) {
    check_open(socket_);
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) break;
    co_await wait_or_throw(SSL_get_error(ssl_.get(), r), errno);
  }
  kernel_tls_ = BIO_get_ktls_send(SSL_get_wbio(ssl_.get())) != 0;
  if (!kernel_tls_) buffer_writes();
}

asio::awaitable<void> TlsChannel::read_exact(std::span<std::byte> into) {
  while (!into.empty()) {
    check_open(socket_);
    ERR_clear_error();
    errno = 0;
    std::size_t got = 0;
    if (SSL_read_ex(ssl_.get(), into.data(), into.size(), &got) == 1) {
      into = into.subspan(got);
      continue;
    }
    co_await wait_or_throw(SSL_get_error(ssl_.get(), 0), errno);
  }
}

asio::awaitable<void> TlsChannel::write_all(std::span<const asio::const_buffer> buffers) {
  for (const auto& buffer : buffers) {
    const auto* data = static_cast<const std::byte*>(buffer.data());
    std::size_t left = buffer.size();
    while (left > 0) {
      check_open(socket_);
      ERR_clear_error();
      errno = 0;
      std::size_t written = 0;
      // Without SSL_MODE_ENABLE_PARTIAL_WRITE a success writes everything; after a
      // WANT_WRITE the call is repeated with the same arguments, as OpenSSL requires.
      if (SSL_write_ex(ssl_.get(), data, left, &written) == 1) {
        data += written;
        left -= written;
        continue;
      }
      co_await wait_or_throw(SSL_get_error(ssl_.get(), 0), errno);
    }
  }
  co_await flush();
}

asio::awaitable<void> TlsChannel::flush() {
  while (write_buffer_) {
    check_open(socket_);
    ERR_clear_error();
    errno = 0;
    if (BIO_flush(write_buffer_) == 1) co_return;
    if (!BIO_should_retry(write_buffer_)) {
      if (errno != 0)
        throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()));
      throw_ssl(ERR_get_error());
    }
    co_await socket_.async_wait(tcp::socket::wait_write, asio::use_awaitable);
  }
}

}  // namespace cohort::net
