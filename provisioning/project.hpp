#pragma once
// A project file (project.toml): who takes part, where the server is, and the memory
// settings each role's kit exports.
//
//   [project]   name, key_type = "ec" | "rsa", validity_days
//   [server]    name, host (the name sites and admins reach it by, in its certificate),
//               listen_host (the address its ports bind, "0.0.0.0" by default), fl_port,
//               admin_port, max_concurrent_jobs, schedule_timeout_s, on_server_restart
//               ("resume", the default: a job running when the server stopped goes on from
//               its last completed round; "abnormal": it ends ABNORMAL; a recipe's [job]
//               on_server_restart wins), reconnect_grace_s (10: how long a site whose
//               connection dropped keeps its tasks in flight, to come back and deliver
//               them; 0 fails them at once), metrics_address ("HOST:PORT": serve
//               Prometheus's /metrics and the /healthz, /readyz probes there; off when
//               unset; never the fl_port or admin_port)
//   [memory]    server_malloc_arena_max (4), client_malloc_arena_max (2),
//               server_malloc_mmap_threshold_kib, client_malloc_mmap_threshold_kib (4096;
//               0 leaves glibc's dynamic threshold, see README "Memory"),
//               reuse_model_memory (false: true keeps model-sized memory for the next
//               round in server and clients, README "Memory")
//   [[clients]] name, org, accept_job_code (true: runs jobs that carry code, such as a
//               Python script; false refuses them, and the job's status says so),
//               metrics_address (as the server's, for that client)
//   [[admins]]  name, org, role = project_admin | org_admin | lead | member
//
// Errors are ConfigErrors naming file:line:col.

#include "config/recipe_file.hpp"
#include "provisioning/certificates.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::provisioning {

/// NVFlare's admin roles.
inline const std::vector<std::string> kAdminRoles{"project_admin", "org_admin", "lead", "member"};

struct ProjectServer {
  std::string name = "server";
  std::string host = "localhost";
  std::int64_t fl_port = 8002;
  std::int64_t admin_port = 8003;
  std::int64_t max_concurrent_jobs = 2;
  std::int64_t schedule_timeout_s = 600;
  std::string listen_host = "0.0.0.0";
  std::string on_server_restart = "resume";
  std::int64_t reconnect_grace_s = config::kReconnectGraceSeconds;

  bool operator==(const ProjectServer&) const = default;
};

struct ProjectClient {
  std::string name, org;
  bool accept_job_code = true;
  /// Where the client serves /metrics, /healthz and /readyz ("" : it does not).
  std::string metrics_address;
};

struct ProjectAdmin {
  std::string name, org, role;
};

struct Project {
  std::string name;
  KeyType key_type = KeyType::ec_p256;
  std::int64_t validity_days = 360;
  ProjectServer server;
  /// Where the server serves /metrics, /healthz and /readyz ("" : it does not).
  std::string server_metrics_address;
  bool reuse_model_memory = false;
  std::int64_t server_malloc_arena_max = 4;
  std::int64_t client_malloc_arena_max = 2;
  std::int64_t server_malloc_mmap_threshold_kib = 4096;
  std::int64_t client_malloc_mmap_threshold_kib = 4096;
  std::vector<ProjectClient> clients;
  std::vector<ProjectAdmin> admins;
};

/// Parses a project file; `file` names it in errors.
Project parse_project(std::string_view text, const std::filesystem::path& file);
/// Checks a participant's `key` (metrics_address) of `args`: HOST:PORT, and not the
/// server's fl_port or admin_port. Returns it ("" when unset).
std::string read_metrics_address(const Args& args, const std::string& key, const ProjectServer& server);
/// Reads and parses `file`.
Project read_project(const std::filesystem::path& file);

}  // namespace cohort::provisioning
