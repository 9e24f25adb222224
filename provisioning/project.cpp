#include "provisioning/project.hpp"

#include "config/recipe_file.hpp"

#include "config/toml_file.hpp"
#include "config/listen_address.hpp"

#include <cohort/error.hpp>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace cohort::provisioning {

namespace {

/// Names become file names and certificate CNs: keep them to a safe alphabet.
void check_name(const Args& table, const std::string& key, const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && name.front() != '.' && name.front() != '-' &&
                  std::all_of(name.begin(), name.end(), [](unsigned char c) {
                    return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@';
                  });
  if (!ok) table.fail(key, "'" + name + "' is not a valid participant name (1-64 of A-Z a-z 0-9 - _ . @)");
}

}  // namespace

std::string read_metrics_address(const Args& args, const std::string& key, const ProjectServer& server) {
  const auto text = args.get<std::string>(key, "");
  if (text.empty()) return text;
  config::ListenAddress address;
  try {
    address = config::parse_listen_address(text);
  } catch (const std::invalid_argument& e) {
    args.fail(key, e.what());
  }
  if (address.port == server.fl_port || address.port == server.admin_port)
    args.fail(key, "port " + std::to_string(address.port) + " is the server's " +
                       (address.port == server.fl_port ? "fl_port" : "admin_port") + ": metrics need a port of their own");
  return text;
}

Project parse_project(std::string_view text, const std::filesystem::path& file) {
  const std::string file_name = file.string();
  const Args root = config::parse_toml(text, file_name);
  Project p;

  const Args project = root.table("project");
  p.name = project.required<std::string>("name");
  check_name(project, "name", p.name);
  const auto key_type = project.get<std::string>("key_type", "ec");
  if (key_type == "rsa") p.key_type = KeyType::rsa2048;
  else if (key_type != "ec") project.fail("key_type", "must be \"ec\" (P-256) or \"rsa\" (2048 bits), not \"" + key_type + "\"");
  p.validity_days = project.get<std::int64_t>("validity_days", 360, between(1, 36500));
  project.finish();

  const Args server = root.table("server");
  p.server.name = server.get<std::string>("name", "server");
  check_name(server, "name", p.server.name);
  p.server.host = server.required<std::string>("host");
  p.server.fl_port = server.get<std::int64_t>("fl_port", 8002, between(1, 65535));
  p.server.admin_port = server.get<std::int64_t>("admin_port", 8003, between(1, 65535));
  if (p.server.admin_port == p.server.fl_port) server.fail("admin_port", "must differ from fl_port");
  p.server.max_concurrent_jobs = server.get<std::int64_t>("max_concurrent_jobs", 2, between(1, 64));
  p.server.schedule_timeout_s = server.get<std::int64_t>("schedule_timeout_s", 600, between(1, 7 * 86400));
  p.server.listen_host = server.get<std::string>("listen_host", "0.0.0.0");
  if (p.server.listen_host.empty()) server.fail("listen_host", "must not be empty (\"0.0.0.0\": every address)");
  p.server.on_server_restart = config::read_restart_policy(server, "resume");
  p.server.reconnect_grace_s =
      server.get<std::int64_t>("reconnect_grace_s", config::kReconnectGraceSeconds, between(0, 3600));
  p.server_metrics_address = read_metrics_address(server, "metrics_address", p.server);
  server.finish();

  const Args memory = root.table("memory");
  p.server_malloc_arena_max = memory.get<std::int64_t>("server_malloc_arena_max", 4, between(1, 1024));
  p.client_malloc_arena_max = memory.get<std::int64_t>("client_malloc_arena_max", 2, between(1, 1024));
  // glibc caps the threshold at 32 MiB on 64-bit machines.
  p.server_malloc_mmap_threshold_kib = memory.get<std::int64_t>("server_malloc_mmap_threshold_kib", 4096, between(0, 32768));
  p.client_malloc_mmap_threshold_kib = memory.get<std::int64_t>("client_malloc_mmap_threshold_kib", 4096, between(0, 32768));
  p.reuse_model_memory = memory.get<bool>("reuse_model_memory", false);
  memory.finish();

  std::set<std::string> names{p.server.name};
  for (const Args& c : root.tables("clients")) {
    ProjectClient client{c.required<std::string>("name"), c.get<std::string>("org", ""),
                         c.get<bool>("accept_job_code", true), read_metrics_address(c, "metrics_address", p.server)};
    check_name(c, "name", client.name);
    if (!names.insert(client.name).second) c.fail("name", "'" + client.name + "' names another participant too");
    c.finish();
    p.clients.push_back(client);
  }
  for (const Args& a : root.tables("admins")) {
    ProjectAdmin admin{a.required<std::string>("name"), a.required<std::string>("org"),
                       a.required<std::string>("role")};
    check_name(a, "name", admin.name);
    if (!names.insert(admin.name).second) a.fail("name", "'" + admin.name + "' names another participant too");
    if (std::find(kAdminRoles.begin(), kAdminRoles.end(), admin.role) == kAdminRoles.end())
      a.fail("role", "'" + admin.role + "' is not a role: project_admin, org_admin, lead or member");
    a.finish();
    p.admins.push_back(admin);
  }
  root.finish();
  return p;
}

Project read_project(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError(file, "cannot read the project file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_project(text.str(), file);
}

}  // namespace cohort::provisioning
