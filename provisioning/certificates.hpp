#pragma once
// Certificates for a project: a root CA and one certificate per participant, with
// OpenSSL. The participant's name is its certificate's common name: that is how a server
// knows which site a connection speaks for.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
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
  /// As above, with the organisation (O) and organisational unit (OU) in the subject:
  /// admin certificates carry their org and role there, so a server learns them from the
  /// verified certificate and never from what the admin claims.
  Identity issue(const std::string& name, const std::string& organization, const std::string& unit,
                 CertificateRole role, KeyType key_type, std::chrono::hours validity,
                 const std::vector<std::string>& hosts = {},
                 std::chrono::hours not_before_offset = std::chrono::hours(0)) const;

  /// Signs `data` with the root key (SHA-256); returns the signature, base64.
  std::string sign(std::string_view data) const;

  struct Impl;

 private:
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Whether `signature_base64` is the signature of `data` by the key of the certificate
/// `certificate_pem` (SHA-256).
bool verify_signature(const std::string& certificate_pem, std::string_view data, const std::string& signature_base64);

/// SHA-256 of a file's bytes, lowercase hex. Throws when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

/// Subject fields of a certificate (PEM): CN, O, OU ("" when absent).
struct Subject {
  std::string common_name, organization, unit;
};
Subject certificate_subject(const std::string& certificate_pem);

}  // namespace cohort::provisioning
