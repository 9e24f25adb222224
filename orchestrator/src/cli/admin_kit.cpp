#include "cli/admin_kit.hpp"

#include "provisioning/local_project.hpp"
#include "provisioning/startup_kit.hpp"

#include <cohort/error.hpp>
#include <cstdlib>
#include <stdexcept>

namespace cohort::cli {

AdminKit load_admin_kit(const std::string& kit) {
  std::string kit_dir = kit;
  if (kit_dir.empty()) {
    const char* env = std::getenv("COHORT_ADMIN_KIT");
    if (!env || !*env) throw ConfigError({}, "give --kit DIR (an admin startup kit) or set COHORT_ADMIN_KIT");
    kit_dir = env;
  }
  const auto startup = provisioning::startup_folder(kit_dir);
  const auto loaded = provisioning::load_kit(startup);
  if (loaded.role != "admin")
    throw ConfigError({"--kit"}, startup.string() + " is a " + loaded.role + " kit, not an admin kit");
  return AdminKit{admin::AdminEndpoint{loaded.server.host, static_cast<std::uint16_t>(loaded.server.admin_port),
                                       loaded.server.name,
                                       tls::TlsFiles{startup / provisioning::kRootCertificateFile,
                                                     startup / provisioning::kCertificateFile,
                                                     startup / provisioning::kKeyFile}},
                  admin::AdminIdentity{loaded.participant, loaded.org, loaded.admin_role}};
}

admin::AdminEndpoint admin_endpoint(const std::string& kit) { return load_admin_kit(kit).endpoint; }

}  // namespace cohort::cli
