#pragma once
// TLS straight on a connected TCP socket: OpenSSL reads and writes the socket's file
// descriptor itself, Asio only waits until the socket is ready. asio::ssl::stream instead
// moves every record through two memory buffers and a BIO pair (three copies each way, one
// recv() and one send() per 16 KiB record); here received records are read ahead in bulk
// and each is decrypted once, and records to send are sealed into one 256 KiB buffer that
// leaves in one send(). Where the kernel offers TLS (kTLS), OpenSSL hands it the keys after
// the handshake and the kernel seals what is sent; elsewhere the channel falls back to the
// buffer without a word.
//
// One coroutine may read while another writes (both on the connection's strand); OpenSSL
// allows interleaved SSL_read and SSL_write on one thread. Errors are thrown as
// boost::system::system_error: end of stream as asio::error::eof, OpenSSL's own errors in
// asio's SSL category (so they read as they did through asio::ssl::stream).

#include <utility>  // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>

namespace cohort::net {

class TlsChannel {
 public:
  /// `socket` must be connected and outlive the channel. The context's verification
  /// settings (mutual TLS) apply.
  TlsChannel(boost::asio::ip::tcp::socket& socket, SSL_CTX* context, bool server_side);

  boost::asio::awaitable<void> handshake();
  /// Fills `into` completely.
  boost::asio::awaitable<void> read_exact(std::span<std::byte> into);
  /// Writes every buffer, then flushes.
  boost::asio::awaitable<void> write_all(std::span<const boost::asio::const_buffer> buffers);

  SSL* native_handle() const { return ssl_.get(); }
  /// Whether the kernel seals the records sent (known after the handshake).
  bool kernel_tls() const { return kernel_tls_; }

 private:
  /// Waits until the socket is ready for what `ssl_error` (SSL_get_error) asks, or throws
  /// the error it stands for (`system_error`: errno right after the failed call).
  boost::asio::awaitable<void> wait_or_throw(int ssl_error, int system_error);
  boost::asio::awaitable<void> flush();
  /// Puts the 256 KiB buffer in front of the socket for writes.
  void buffer_writes();

  boost::asio::ip::tcp::socket& socket_;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl_;
  /// The buffering BIO that records are written into (owned by ssl_; null with kTLS).
  BIO* write_buffer_ = nullptr;
  bool kernel_tls_ = false;
};

}  // namespace cohort::net
