#pragma once
// An ephemeral project on this machine (what `cohort simulate` runs on): a fresh root CA,
// a server certificate for 127.0.0.1/localhost and one certificate per site, each in its
// own folder: <dir>/<name>/{rootCA.pem, cert.pem, key.pem}.

#include <filesystem>
#include <string>
#include <vector>

namespace cohort::provisioning {

/// File names inside an identity folder.
inline constexpr const char* kRootCertificateFile = "rootCA.pem";
inline constexpr const char* kCertificateFile = "cert.pem";
inline constexpr const char* kKeyFile = "key.pem";

/// Writes the identities of `server` and `sites` under `dir`, signed by a new CA.
void provision_local(const std::filesystem::path& dir, const std::string& project, const std::string& server,
                     const std::vector<std::string>& sites);

}  // namespace cohort::provisioning
