#include "provisioning/startup_kit.hpp"
#include "config/text_file.hpp"

#include "provisioning/local_project.hpp"
#include "process/role_environment.hpp"
#include "config/recipe_file.hpp"
#include "config/toml_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::provisioning {

namespace {

std::string replace_all(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  }
  return text;
}

/// Escaped for the inside of a double-quoted bash string.
std::string double_quoted_body(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '$' || c == '\\' || c == '`') out += '\\';
    out += c;
  }
  return out;
}

// The scripts: each finds the cohort executable, then hands over to it. start.sh and
// stop.sh are `cohort kit start|stop` (the watchdog lives in cohort: kit_runner.hpp).
constexpr const char* kPrelude = R"SH(#!/usr/bin/env bash
# @PURPOSE@
# Written by `cohort provision`; signed: do not edit.
set -eu
STARTUP="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COHORT="${COHORT_BIN:-@COHORT@}"
if [ ! -x "$COHORT" ]; then COHORT="$(command -v cohort || true)"; fi
if [ -z "$COHORT" ]; then echo "no cohort executable: set COHORT_BIN or put cohort on PATH" >&2; exit 1; fi
)SH";

constexpr const char* kStart =
    "Starts @ROLE@ '@NAME@' of project '@PROJECT@' in the background under a watchdog that\n"
    "# restarts it when it dies (at most 5 times in 300 s); output goes to ../log.txt.";
constexpr const char* kStop = "Stops @ROLE@ '@NAME@' and its watchdog.";
constexpr const char* kAdmin =
    "Admin commands as '@NAME@' (@ADMIN_ROLE@, org '@ORG@'): admin.sh submit RECIPE | list |\n"
    "# show ID | abort ID | download ID [DEST] | logs ID | wait ID | status.";

/// A kit script: the prelude with `purpose`, then `command`.
std::string script(const char* purpose, const std::string& command) {
  std::string text = kPrelude;
  text.replace(text.find("@PURPOSE@"), 9, purpose);
  return text + command + "\n";
}

constexpr const char* kReadme = R"SH(# Startup kit: @ROLE@ '@NAME@' of project '@PROJECT@'

Written by `cohort provision`. Every file here is signed with the project's root key
(signature.txt): @PROCESS@ refuses to start from a kit whose files were edited. Keep
key.pem private.

@USAGE@
)SH";

std::string usage(const KitConfig& kit) {
  if (kit.role == "admin")
    return "    ./admin.sh submit path/to/recipe.toml\n    ./admin.sh list\n    ./admin.sh wait JOB_ID\n"
           "    ./admin.sh download JOB_ID [DEST]\n\nYour role: " + kit.admin_role + " (org '" + kit.org + "').";
  std::string text =
      "    ./start.sh    start in the background under a watchdog (log: ../log.txt)\n"
      "    ./stop.sh     stop\n"
      "    cohort kit run .   run in the foreground under the watchdog (for systemd, containers)\n\n"
      "The watchdog restarts the process when it dies, at most 5 times in 300 s.\n"
      "Environment (set by cohort from kit.toml): MALLOC_ARENA_MAX=" + std::to_string(kit.malloc_arena_max) +
      ", MALLOC_MMAP_THRESHOLD_=" + std::to_string(kit.malloc_mmap_threshold_kib * 1024) +
      " (none when 0: glibc's dynamic threshold)" + (kit.reuse_model_memory ? ", COHORT_REUSE_MODEL_MEMORY=true" : "") +
      ".\nCOHORT_ENABLE_JEMALLOC_PRELOAD=true preloads jemalloc\n"
      "(MALLOC_CONF defaults to dirty_decay_ms:5000,muzzy_decay_ms:5000 unless set);\n"
      "COHORT_BIN picks the cohort executable.";
  if (kit.role == "server")
    text += "\n\nClients connect to " + kit.server.host + ":" + std::to_string(kit.server.fl_port) +
            ", admins to port " + std::to_string(kit.server.admin_port) + ".";
  return text;
}

/// Signs every file of `startup` but the signature itself.
void sign_kit(const fs::path& startup, const CertificateAuthority& ca) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(startup)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name != kSignatureFile && name.find(".partial") == std::string::npos)
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::string listing = "# cohort startup kit: SHA-256 of each file; the list is signed with the project's root key\n";
  for (const auto& name : names) listing += "sha256 " + sha256_file(startup / name) + " " + name + "\n";
  config::write_text_file(startup / kSignatureFile, listing + "signature " + ca.sign(listing) + "\n");
}

}  // namespace

std::string kit_toml(const KitConfig& k) {
  toml::table kit{{"project", k.project}, {"participant", k.participant}, {"role", k.role}, {"org", k.org}};
  if (k.role == "admin") kit.insert("admin_role", k.admin_role);
  if (k.role != "admin") {
    kit.insert("malloc_arena_max", k.malloc_arena_max);
    kit.insert("malloc_mmap_threshold_kib", k.malloc_mmap_threshold_kib);
    kit.insert("reuse_model_memory", k.reuse_model_memory);
  }
  if (k.role == "client") kit.insert("accept_job_code", k.accept_job_code);
  if (!k.metrics_address.empty()) kit.insert("metrics_address", k.metrics_address);
  toml::table server{{"name", k.server.name}, {"host", k.server.host}, {"fl_port", k.server.fl_port},
                     {"admin_port", k.server.admin_port}};
  if (k.role == "server") {
    server.insert("max_concurrent_jobs", k.server.max_concurrent_jobs);
    server.insert("schedule_timeout_s", k.server.schedule_timeout_s);
    server.insert("listen_host", k.server.listen_host);
    server.insert("on_server_restart", k.server.on_server_restart);
    server.insert("reconnect_grace_s", k.server.reconnect_grace_s);
    toml::array clients;
    for (const auto& c : k.clients) clients.push_back(c);
    server.insert("clients", std::move(clients));
  }
  std::ostringstream out;
  out << "# Written by `cohort provision`; signed: do not edit.\n"
      << toml::table{{"kit", std::move(kit)}, {"server", std::move(server)}} << "\n";
  return out.str();
}

fs::path startup_folder(const fs::path& kit) {
  if (fs::exists(kit / kKitFile) || !fs::exists(kit / "startup")) return kit;
  return kit / "startup";
}

namespace {

/// The project's root CA from `ca_dir`, or a new one written there.
CertificateAuthority load_or_create_ca(const Project& project, const fs::path& ca_dir) {
  if (fs::exists(ca_dir / "rootCA.key"))
    return CertificateAuthority::load(config::read_text_file(ca_dir / "rootCA.pem"), config::read_text_file(ca_dir / "rootCA.key"));
  auto created = CertificateAuthority::create(project.name, project.key_type, std::chrono::hours(24 * project.validity_days));
  config::write_text_file(ca_dir / "rootCA.pem", created.certificate_pem());
  config::write_text_file(ca_dir / "rootCA.key", created.key_pem(), 0600);
  return created;
}

/// One kit per participant: the server, each client, each admin.
std::vector<KitConfig> kit_configs(const Project& project) {
  auto base = [&](const std::string& name, const std::string& role, const std::string& org) {
    KitConfig k;
    k.project = project.name;
    k.participant = name;
    k.role = role;
    k.org = org;
    k.server = project.server;
    return k;
  };
  std::vector<KitConfig> kits{base(project.server.name, "server", "")};
  kits.back().malloc_arena_max = project.server_malloc_arena_max;
  kits.back().malloc_mmap_threshold_kib = project.server_malloc_mmap_threshold_kib;
  kits.back().reuse_model_memory = project.reuse_model_memory;
  kits.back().metrics_address = project.server_metrics_address;
  for (const auto& c : project.clients) kits.back().clients.push_back(c.name);
  for (const auto& c : project.clients) {
    KitConfig k = base(c.name, "client", c.org);
    k.malloc_arena_max = project.client_malloc_arena_max;
    k.malloc_mmap_threshold_kib = project.client_malloc_mmap_threshold_kib;
    k.reuse_model_memory = project.reuse_model_memory;
    k.accept_job_code = c.accept_job_code;
    k.metrics_address = c.metrics_address;
    kits.push_back(k);
  }
  for (const auto& a : project.admins) {
    KitConfig k = base(a.name, "admin", a.org);
    k.admin_role = a.role;
    kits.push_back(k);
  }
  return kits;
}

/// The kit's certificate and key, unless it has them: keys and certificates survive
/// re-provisioning, only a newcomer gets new ones. Whether they were issued now.
bool issue_identity(const Project& project, const KitConfig& k, const CertificateAuthority& ca, const fs::path& startup) {
  if (fs::exists(startup / kCertificateFile) && fs::exists(startup / kKeyFile)) return false;
  const auto role = k.role == "server" ? CertificateRole::server
                    : k.role == "client" ? CertificateRole::client
                                         : CertificateRole::admin;
  std::vector<std::string> hosts;
  if (k.role == "server") hosts = {project.server.host, "localhost", "127.0.0.1"};
  const auto identity = ca.issue(k.participant, k.org, k.admin_role, role, project.key_type,
                                 std::chrono::hours(24 * project.validity_days), hosts);
  config::write_text_file(startup / kCertificateFile, identity.certificate_pem);
  config::write_text_file(startup / kKeyFile, identity.key_pem, 0600);
  return true;
}

/// The kit's scripts (admin.sh, or start.sh and stop.sh) and its README.
void write_scripts(const Project& project, const KitConfig& k, const fs::path& startup, const fs::path& cohort_executable) {
  const std::map<std::string, std::string> values{
      {"@ROLE@", k.role},          {"@NAME@", k.participant},   {"@PROJECT@", project.name},
      {"@COHORT@", double_quoted_body(cohort_executable.string())},
      {"@ADMIN_ROLE@", k.admin_role}, {"@ORG@", k.org},
      {"@PROCESS@", k.role == "admin" ? "the admin CLI" : "the " + k.role + " process"},
      {"@USAGE@", usage(k)}};
  if (k.role == "admin") {
    config::write_text_file(startup / "admin.sh",
                            replace_all(script(kAdmin, R"(exec "$COHORT" job "$@" --kit "$STARTUP")"), values), 0755);
  } else {
    config::write_text_file(startup / "start.sh",
                            replace_all(script(kStart, R"(exec "$COHORT" kit start "$STARTUP")"), values), 0755);
    config::write_text_file(startup / "stop.sh",
                            replace_all(script(kStop, R"(exec "$COHORT" kit stop "$STARTUP")"), values), 0755);
  }
  config::write_text_file(startup / "README.md", replace_all(kReadme, values));
}

}  // namespace

ProvisionReport provision(const Project& project, const fs::path& out, const fs::path& cohort_executable) {
  ProvisionReport report;
  const CertificateAuthority ca = load_or_create_ca(project, out / "ca");
  for (const auto& k : kit_configs(project)) {
    const fs::path startup = out / k.participant / "startup";
    fs::create_directories(startup);
    (issue_identity(project, k, ca, startup) ? report.issued : report.kept).push_back(k.participant);
    config::write_text_file(startup / kRootCertificateFile, ca.certificate_pem());
    config::write_text_file(startup / kKitFile, kit_toml(k));
    write_scripts(project, k, startup, cohort_executable);
    sign_kit(startup, ca);
  }
  return report;
}

void verify_kit(const fs::path& startup) {
  const fs::path signature_file = startup / kSignatureFile;
  if (!fs::exists(signature_file))
    throw KitError("kit " + startup.string() + ": " + kSignatureFile + " is missing (not a kit written by cohort provision)");
  const std::string text = config::read_text_file(signature_file);
  const auto at = text.rfind("signature ");
  if (at == std::string::npos || (at > 0 && text[at - 1] != '\n'))
    throw KitError("kit " + startup.string() + ": " + kSignatureFile + " has no signature line");
  const std::string listing = text.substr(0, at);
  std::string signature = text.substr(at + 10);
  while (!signature.empty() && (signature.back() == '\n' || signature.back() == '\r')) signature.pop_back();
  std::string root;
  try {
    root = config::read_text_file(startup / kRootCertificateFile);
  } catch (const std::exception&) {
    throw KitError("kit " + startup.string() + ": " + kRootCertificateFile + " is missing");
  }
  if (!verify_signature(root, listing, signature))
    throw KitError("kit " + startup.string() + ": " + kSignatureFile +
                   " does not carry a valid signature of the project's root key (was the kit edited?)");
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind, digest, name;
    fields >> kind >> digest >> name;
    if (kind != "sha256" || name.empty() || name.find('/') != std::string::npos)
      throw KitError("kit " + startup.string() + ": " + kSignatureFile + ": malformed line '" + line + "'");
    if (!fs::exists(startup / name))
      throw KitError("kit " + startup.string() + ": signed file " + name + " is missing");
    if (sha256_file(startup / name) != digest)
      throw KitError("kit " + startup.string() + ": " + name +
                     " was modified after provisioning (its SHA-256 differs from the signed one); re-provision to change it");
  }
}

std::map<std::string, std::string> kit_environment(const KitConfig& kit) {
  return process::role_environment(kit.malloc_arena_max, kit.malloc_mmap_threshold_kib, kit.reuse_model_memory);
}

KitConfig load_kit(const fs::path& kit) {
  const fs::path startup = startup_folder(kit);
  verify_kit(startup);
  const fs::path file = startup / kKitFile;
  return parse_kit_toml(config::read_text_file(file), file);
}

KitConfig parse_kit_toml(std::string_view text, const fs::path& file) {
  const Args root = config::parse_toml(text, file.string());
  KitConfig k;
  // Each role's keys, as kit_toml writes them; a key of another role is unknown.
  const Args kit = root.table("kit");
  k.project = kit.required<std::string>("project");
  k.participant = kit.required<std::string>("participant");
  if (!kit.has("role")) kit.fail("role", "is required (server, client or admin)");
  k.role = kit.choice("role", "", {"server", "client", "admin"});
  k.org = kit.get<std::string>("org", "");
  if (k.role == "admin") {
    k.admin_role = kit.required<std::string>("admin_role");
    if (std::find(kAdminRoles.begin(), kAdminRoles.end(), k.admin_role) == kAdminRoles.end())
      kit.fail("admin_role", "'" + k.admin_role + "' is not a role (project_admin, org_admin, lead or member)");
  } else {
    k.malloc_arena_max = kit.get<std::int64_t>("malloc_arena_max", 0, at_least(0));
    k.malloc_mmap_threshold_kib = kit.get<std::int64_t>("malloc_mmap_threshold_kib", 0, at_least(0));
    k.reuse_model_memory = kit.get<bool>("reuse_model_memory", false);
  }
  if (k.role == "client") k.accept_job_code = kit.get<bool>("accept_job_code", true);
  if (k.role != "admin") k.metrics_address = kit.get<std::string>("metrics_address", "");
  const Args server = root.table("server");
  k.server.name = server.required<std::string>("name");
  k.server.host = server.required<std::string>("host");
  k.server.fl_port = server.required<std::int64_t>("fl_port", between(1, 65535));
  k.server.admin_port = server.required<std::int64_t>("admin_port", between(1, 65535));
  if (k.role == "server") {
    k.server.max_concurrent_jobs = server.get<std::int64_t>("max_concurrent_jobs", 2, between(1, 64));
    k.server.schedule_timeout_s = server.get<std::int64_t>("schedule_timeout_s", 600, at_least(1));
    k.server.listen_host = server.get<std::string>("listen_host", "0.0.0.0");
    k.server.on_server_restart = config::read_restart_policy(server, "resume");
    k.server.reconnect_grace_s =
        server.get<std::int64_t>("reconnect_grace_s", config::kReconnectGraceSeconds, between(0, 3600));
    k.clients = server.get<std::vector<std::string>>("clients", {});
  }
  kit.finish();
  server.finish();
  root.finish();
  return k;
}

}  // namespace cohort::provisioning
