#pragma once
// The admin CLI's side of the admin protocol: one blocking TLS connection per request,
// with the admin kit's certificate.

#include "admin/admin_protocol.hpp"
#include "tls/tls.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace cohort::admin {

struct AdminEndpoint {
  std::string host;
  std::uint16_t port = 0;
  /// The server's certificate must carry this common name.
  std::string server_name;
  tls::TlsFiles tls;
};

/// The server did not answer: nothing listens on its admin port, or the connection closed
/// before a reply (a server restarting looks like this). What a wait may retry.
struct ServerUnreachable : std::runtime_error {
  ServerUnreachable(const std::string& what, bool nothing_sent)
      : std::runtime_error(what), nothing_sent(nothing_sent) {}
  /// No connection was made, so not a byte of the request left: sending it again is safe.
  bool nothing_sent;
};

/// Sends `request`, returns the reply. For a download, writes the files that follow the
/// reply under `download_to` (each path checked to stay inside it). Throws on a
/// connection or TLS failure, naming the endpoint (ServerUnreachable when it did not answer).
nlohmann::json admin_request(const AdminEndpoint& endpoint, const AdminRequest& request,
                             const std::filesystem::path& download_to = {});

/// admin_request, tried again while nothing listens on the admin port (a server still
/// starting) until `patience` has passed; `on_retry` hears of the first retry. The final
/// error says how long it tried.
nlohmann::json admin_request_patiently(const AdminEndpoint& endpoint, const AdminRequest& request,
                                       const std::filesystem::path& download_to, std::chrono::milliseconds patience,
                                       const std::function<void(const std::string& why)>& on_retry = {});

}  // namespace cohort::admin
