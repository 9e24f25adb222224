#pragma once
// Mutual TLS: both sides present a certificate signed by the project's root CA.

#include <utility>  // Boost 1.74's asio/awaitable.hpp uses std::exchange without including it
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <filesystem>
#include <string>

namespace cohort::tls {

/// The files of one participant's identity.
struct TlsFiles {
  std::filesystem::path ca;    ///< root CA certificate (PEM)
  std::filesystem::path cert;  ///< this participant's certificate (PEM)
  std::filesystem::path key;   ///< its private key (PEM)
};

/// A server context: presents `files.cert`, requires a client certificate signed by
/// `files.ca`. Throws std::runtime_error naming the file that failed to load.
boost::asio::ssl::context make_server_context(const TlsFiles& files);
/// A client context: presents `files.cert`, requires the server's certificate to be
/// signed by `files.ca`.
boost::asio::ssl::context make_client_context(const TlsFiles& files);

/// TLS 1.3 cipher suites in the order cohort prefers them, the fastest first on this CPU:
/// AES-128-GCM where the CPU has AES instructions (AES-NI), else ChaCha20-Poly1305. Both
/// contexts list them; the server's order decides.
std::string preferred_ciphersuites();

/// The negotiated cipher suite ("" before the handshake).
std::string cipher_name(SSL* ssl);

/// Common name of the peer's verified certificate ("" when there is none).
std::string peer_common_name(SSL* ssl);

/// Subject of the peer's verified certificate: common name, organisation, unit ("" each
/// when absent). Admin certificates carry the org and the role there.
struct PeerSubject {
  std::string common_name, organization, unit;
};
PeerSubject peer_subject(SSL* ssl);

}  // namespace cohort::tls
