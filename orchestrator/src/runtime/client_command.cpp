// cohort client: a client process hosting one or more sites.
#include "runtime/commands.hpp"
#include "runtime/process_options.hpp"
#include "process/runtime_commands.hpp"
#include "process/signals.hpp"

#include "memory/memory.hpp"

#include "client/client_process.hpp"
#include "net/fault_injection.hpp"
#include "net/traffic.hpp"
#include "provisioning/local_project.hpp"
#include "provisioning/startup_kit.hpp"
#include "plugin/registry.hpp"
#include "telemetry/process_metrics.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>
#include <cstdlib>

namespace cohort::runtime {

namespace {

/// The command line, and what a startup kit adds to it.
struct ClientArgs : process::ClientLaunch {
  bool accept_job_code = true;
  /// The site's name when the identity folder is not named after it (kits: startup/).
  std::string site_name;
  /// The kit's metrics_address ("": no /metrics).
  std::string metrics_address;
};

/// A long-running client from its startup kit: the kit's server, identity and name; the
/// workspace is the kit's participant folder; reconnects until stopped.
void apply_kit(ClientArgs& a) {
  const auto startup = provisioning::startup_folder(a.kit);
  const auto kit = provisioning::load_kit(startup);
  if (kit.role != "client")
    throw ConfigError({"--kit"}, startup.string() + " is a " + kit.role + " kit, not a client kit");
  a.server = kit.server.host + ":" + std::to_string(kit.server.fl_port);
  a.server_name = kit.server.name;
  a.process.workspace = std::filesystem::absolute(startup).parent_path().string();
  a.process.process_name = kit.participant;
  a.identities = {startup.string()};
  a.site_name = kit.participant;
  a.accept_job_code = kit.accept_job_code;
  a.metrics_address = kit.metrics_address;
}

/// The client's /metrics, /healthz and /readyz (ready while a site is connected) on
/// `address`, serving now.
std::unique_ptr<telemetry::MetricsEndpoint> serve_metrics(const std::string& address, const client::ClientProcess& process,
                                                          std::shared_ptr<spdlog::logger> log) {
  auto snapshot = [&process] {
    telemetry::Snapshot s;
    s.resident_bytes["client"] = memory::process_memory().rss_bytes;
    s.resident_bytes["client_children"] = memory::children_rss_bytes();  // e.g. the sites' Python scripts
    s.bytes_sent = net::bytes_sent();
    s.bytes_received = net::bytes_received();
    s.sites_connected = process.connected_sites();
    return s;
  };
  auto endpoint = std::make_unique<telemetry::MetricsEndpoint>(
      config::parse_listen_address(address), std::make_shared<telemetry::ProcessMetrics>(), std::move(snapshot),
      [&process] { return !process.connected_sites().empty(); }, log);
  endpoint->start();
  log->info("metrics: /metrics, /healthz and /readyz on http://{}", address);
  return endpoint;
}

int run_client(ClientArgs a, const GlobalOptions& global) {
  if (!a.kit.empty()) apply_kit(a);
  process::block_termination_signals();
  memory::enable_tensor_accounting();
  auto log = process_logger(a.process, global);
  client::ClientOptions options;
  const auto colon = a.server.rfind(':');
  if (colon == std::string::npos) throw ConfigError({"--server"}, "expected HOST:PORT, got '" + a.server + "'");
  options.server_host = a.server.substr(0, colon);
  options.server_port = static_cast<std::uint16_t>(std::stoul(a.server.substr(colon + 1)));
  options.server_name = a.server_name;
  options.process_name = a.process.process_name;
  options.workspace = a.process.workspace;
  options.exit_on_final_bye = a.exit_on_bye;
  options.accept_job_code = a.accept_job_code;
  options.connection.chunk_bytes = chunk_bytes(a.process);
  options.connection.on_model_bytes = net::kill_after_upload_bytes_from_environment(log);
  options.plugin_dirs = plugin_dirs(a.process);
  if (a.process.insecure) {
    if (!a.identities.empty()) throw ConfigError({"--insecure"}, "takes --site NAME, not --identity");
    for (const auto& s : a.sites) options.sites.push_back({s, std::nullopt});
  } else {
    if (!a.sites.empty()) throw ConfigError({}, "--site is for --insecure; give each site's --identity DIR");
    for (const auto& id : a.identities) {
      const std::filesystem::path dir(id);
      // The site's name is the folder's name, which is its certificate's CN.
      options.sites.push_back({a.site_name.empty() ? dir.filename().string() : a.site_name,
                               tls::TlsFiles{dir / provisioning::kRootCertificateFile,
                                             dir / provisioning::kCertificateFile, dir / provisioning::kKeyFile}});
    }
  }
  if (options.sites.empty()) throw ConfigError({}, "no site to host: give --identity DIR (or --insecure --site NAME)");
  client::ClientProcess process(options, log);
  auto endpoint = a.metrics_address.empty() ? nullptr : serve_metrics(a.metrics_address, process, log);
  process::SignalWatcher signals([&](int signal) {
    log->info("signal {}: stopping", signal);
    process.stop(0);
  });
  return process.run();
}

}  // namespace

void add_client_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("client", process::runtime_command_description("client"));
  auto a = std::make_shared<ClientArgs>();
  process::add_options<process::ClientLaunch>(*cmd, *a);
  cmd->callback([&run, &global, a] { run = [&global, a] { return run_client(*a, global); }; });
}

}  // namespace cohort::runtime
