#pragma once
// Startup kits: one folder per participant, written by `cohort provision`.
//
//   <out>/ca/rootCA.pem, rootCA.key     the project's CA (stays with the project admin)
//   <out>/<participant>/startup/
//       kit.toml       endpoint and role settings (KitConfig)
//       rootCA.pem cert.pem key.pem
//       start.sh stop.sh (server and clients: `cohort kit start|stop`)   admin.sh (admins)
//       README.md
//       signature.txt  SHA-256 of every file above, the list signed with the root key
//
// Processes started from a kit verify its signature first and refuse an edited kit,
// naming the file. Re-provisioning keeps every existing key and certificate.

#include "process/command_line.hpp"
#include "provisioning/project.hpp"

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cohort::provisioning {

/// A kit that fails verification; what() names the kit and the file. Ends the process
/// with status 3, which the kit's watchdog does not restart.
class KitError : public process::ExitStatusError {
 public:
  explicit KitError(const std::string& message) : process::ExitStatusError(process::kExitKit, message) {}
};

/// kit.toml.
struct KitConfig {
  std::string project;
  std::string participant;
  /// "server", "client" or "admin".
  std::string role;
  std::string org;
  /// Admins: project_admin, org_admin, lead or member.
  std::string admin_role;
  ProjectServer server;
  std::int64_t malloc_arena_max = 0;
  /// MALLOC_MMAP_THRESHOLD_ in KiB; 0: glibc's dynamic threshold.
  std::int64_t malloc_mmap_threshold_kib = 0;
  /// COHORT_REUSE_MODEL_MEMORY for the process (the project's [memory] reuse_model_memory).
  bool reuse_model_memory = false;
  /// Client kits: whether the client runs jobs that carry code.
  bool accept_job_code = true;
  /// Server and client kits: where the process serves /metrics, /healthz and /readyz
  /// ("": nowhere).
  std::string metrics_address;
  /// Server kits: the clients the project knows.
  std::vector<std::string> clients;

  bool operator==(const KitConfig&) const = default;
};

inline constexpr const char* kKitFile = "kit.toml";
inline constexpr const char* kSignatureFile = "signature.txt";

/// What `provision` did.
struct ProvisionReport {
  std::vector<std::string> issued;  ///< participants that got a new key and certificate
  std::vector<std::string> kept;    ///< participants whose key and certificate were kept
};

/// Writes (or refreshes) every participant's kit under `out`. `cohort_executable` is the
/// default executable the scripts run (COHORT_BIN overrides it; else `cohort` on PATH).
ProvisionReport provision(const Project& project, const std::filesystem::path& out,
                          const std::filesystem::path& cohort_executable);

/// Checks `startup`'s signature against its root certificate and every signed file's
/// hash. Throws KitError naming the first file that differs, is missing, or a bad signature.
void verify_kit(const std::filesystem::path& startup);

/// kit.toml's text for `kit` (what provision writes).
std::string kit_toml(const KitConfig& kit);
/// Reads kit.toml's `text`; `file` names it in errors (ConfigError, FILE:LINE:COL).
KitConfig parse_kit_toml(std::string_view text, const std::filesystem::path& file);

/// Verifies the kit, then reads its kit.toml.
KitConfig load_kit(const std::filesystem::path& startup);

/// The memory environment of the process a server or client kit starts: its role's
/// MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_, jemalloc when asked for (see
/// process::role_environment). `cohort` puts it in place before the process runs.
std::map<std::string, std::string> kit_environment(const KitConfig& kit);

/// The startup folder for a kit argument: the folder itself when it holds kit.toml,
/// else its startup/ subfolder.
std::filesystem::path startup_folder(const std::filesystem::path& kit);

}  // namespace cohort::provisioning
