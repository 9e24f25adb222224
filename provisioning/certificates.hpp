#pragma once
// Certificates for a project: a root CA and one certificate per participant, with
// OpenSSL. The participant's name is its certificate's common name: that is how a server
// knows which site a connection speaks for.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cohort::provisioning {

/// Key algorithm of generated keys.
enum class KeyType { ec_p256, rsa2048 };

/// What a certificate is for.
enum class CertificateRole { server, client, admin };

/// A PEM key and certificate.
struct Identity {
  std::string certificate_pem;
  std::string key_pem;
};

/// A root certificate authority that signs participant certificates.
class CertificateAuthority {
 public:
  /// A new self-signed root CA named `project`.
  static CertificateAuthority create(const std::string& project, KeyType key_type,
                                     std::chrono::hours validity);
  /// A CA from its PEM certificate and key (e.g. read back from a provisioning folder).
  static CertificateAuthority load(const std::string& certificate_pem, const std::string& key_pem);

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  ~CertificateAuthority();

  /// The root certificate, PEM.
  std::string certificate_pem() const;
  /// The root key, PEM (unencrypted: keep it out of every kit).
  std::string key_pem() const;

  /// A certificate for `name` (its CN). Servers get `hosts` as subject alternative names
  /// (DNS names or IP addresses). `not_before_offset` shifts the validity start (tests use
  /// it to make expired certificates).
  Identity issue(const std::string& name, CertificateRole role, KeyType key_type,
                 std::chrono::hours validity, const std::vector<std::string>& hosts = {},
                 std::chrono::hours not_before_offset = std::chrono::hours(0)) const;

  struct Impl;

 private:
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Writes `text` to `file` with `mode` permissions (0600 for keys), atomically.
void write_file(const std::filesystem::path& file, const std::string& text, unsigned mode = 0644);

}  // namespace cohort::provisioning
