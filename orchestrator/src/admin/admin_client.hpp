#pragma once
// The admin CLI's side of the admin protocol: one blocking TLS connection per request,
// with the admin kit's certificate.

#include "admin/admin_protocol.hpp"
#include "tls/tls.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
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
  using std::runtime_error::runtime_error;
};

/// Sends `request`, returns the reply. For a download, writes the files that follow the
/// reply under `download_to` (each path checked to stay inside it). Throws on a
/// connection or TLS failure, naming the endpoint (ServerUnreachable when it did not answer).
nlohmann::json admin_request(const AdminEndpoint& endpoint, const AdminRequest& request,
                             const std::filesystem::path& download_to = {});

}  // namespace cohort::admin
