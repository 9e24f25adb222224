#include "provisioning/local_project.hpp"
#include "config/text_file.hpp"

#include "provisioning/certificates.hpp"

namespace cohort::provisioning {

void provision_local(const std::filesystem::path& dir, const std::string& project, const std::string& server,
                     const std::vector<std::string>& sites) {
  const auto validity = std::chrono::hours(24 * 30);
  auto ca = CertificateAuthority::create(project, KeyType::ec_p256, validity);
  const std::string root = ca.certificate_pem();
  auto write_identity = [&](const std::string& name, const Identity& id) {
    config::write_text_file(dir / name / kRootCertificateFile, root);
    config::write_text_file(dir / name / kCertificateFile, id.certificate_pem);
    config::write_text_file(dir / name / kKeyFile, id.key_pem, 0600);
  };
  write_identity(server, ca.issue(server, CertificateRole::server, KeyType::ec_p256, validity, {"127.0.0.1", "localhost"}));
  for (const auto& site : sites) write_identity(site, ca.issue(site, CertificateRole::client, KeyType::ec_p256, validity));
}

}  // namespace cohort::provisioning
