// cohort server: the server process.
#include "runtime/commands.hpp"
#include "runtime/initial_model.hpp"
#include "runtime/process_options.hpp"
#include "runtime/single_job.hpp"
#include "config/text_file.hpp"
#include "process/runtime_commands.hpp"
#include "process/signals.hpp"

#include "memory/memory.hpp"

#include "provisioning/local_project.hpp"
#include "model_zoo.hpp"
#include "plugin/registry.hpp"
#include "provisioning/certificates.hpp"
#include "server/job_runner.hpp"
#include "server/server.hpp"
#include "server/job_scheduler.hpp"
#include "server/admin_server.hpp"
#include "provisioning/startup_kit.hpp"
#include "jobs/job_store.hpp"
#include "net/traffic.hpp"
#include "telemetry/process_metrics.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <atomic>

#include <sstream>

#include <sys/resource.h>

namespace cohort::runtime {

namespace {

using ServerArgs = process::ServerLaunch;

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, separator)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

/// A server holds one socket per site: lift the soft limit on open files to the hard one
/// (often 1024 → 1048576), so a thousand sites do not run out of descriptors.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

/// The server's /metrics, /healthz and /readyz on the kit's metrics_address, serving now.
std::unique_ptr<telemetry::MetricsEndpoint> serve_metrics(const provisioning::KitConfig& kit,
                                                          std::shared_ptr<telemetry::ProcessMetrics> metrics,
                                                          const server::Server& server, const jobs::JobStore& store,
                                                          const std::atomic<bool>& ready,
                                                          std::shared_ptr<spdlog::logger> log) {
  auto snapshot = [&server, &store] {
    telemetry::Snapshot s;
    s.resident_bytes["server"] = memory::process_memory().rss_bytes;
    s.bytes_sent = net::bytes_sent();
    s.bytes_received = net::bytes_received();
    s.sites_connected = server.connected_sites();
    for (const auto& job : store.list()) ++s.jobs_by_state[std::string(jobs::to_string(job.state))];
    return s;
  };
  auto endpoint = std::make_unique<telemetry::MetricsEndpoint>(
      config::parse_listen_address(kit.metrics_address), std::move(metrics), std::move(snapshot),
      [&ready] { return ready.load(); }, log);
  endpoint->start();
  log->info("metrics: /metrics, /healthz and /readyz on http://{}", kit.metrics_address);
  return endpoint;
}

/// A long-running server from its startup kit: FL port for sites (only the project's
/// clients), admin port for admins, a job store in <kit>/../jobs.db; runs until SIGTERM.
int run_kit_server(const ServerArgs& a, const GlobalOptions& global) {
  const auto startup = provisioning::startup_folder(a.kit);
  const auto kit = provisioning::load_kit(startup);
  if (kit.role != "server")
    throw ConfigError({"--kit"}, startup.string() + " is a " + kit.role + " kit, not a server kit");
  const auto workspace = std::filesystem::absolute(startup).parent_path();
  process::block_termination_signals();
  raise_open_file_limit();
  memory::enable_tensor_accounting();
  process::LogOptions log_options = global.log;
  if (log_options.file.empty()) log_options.file = workspace / "logs" / "server.log";
  auto log = process::make_logger("server", log_options);
  const tls::TlsFiles tls{startup / provisioning::kRootCertificateFile, startup / provisioning::kCertificateFile,
                          startup / provisioning::kKeyFile};

  jobs::JobStore store(workspace / "jobs.db");

  server::ServerOptions options;
  options.name = kit.participant;
  options.host = kit.server.listen_host;
  options.port = static_cast<std::uint16_t>(kit.server.fl_port);
  options.tls = tls;
  options.known_sites = std::set<std::string>(kit.clients.begin(), kit.clients.end());
  options.connection.chunk_bytes = chunk_bytes(a.process);
  options.reconnect_grace = std::chrono::seconds(kit.server.reconnect_grace_s);
  server::Server server(options, log);
  auto metrics = kit.metrics_address.empty() ? nullptr : std::make_shared<telemetry::ProcessMetrics>();
  std::atomic<bool> ready{false};
  auto endpoint = metrics ? serve_metrics(kit, metrics, server, store, ready, log) : nullptr;
  server.start();

  server::SchedulerOptions scheduling;
  scheduling.workspace = workspace;
  scheduling.plugin_dirs = plugin_dirs(a.process);
  scheduling.max_concurrent_jobs = static_cast<std::size_t>(kit.server.max_concurrent_jobs);
  scheduling.schedule_timeout = std::chrono::seconds(kit.server.schedule_timeout_s);
  scheduling.initial_model = [](const recipe::Recipe& r) { return make_initial_model(models::parse_spec(r.model, r.job.seed)); };
  scheduling.job_logger = [log](const jobs::JobDirectory& d) { return process::make_child_logger(log, "server", d.log("server")); };
  scheduling.on_server_restart = kit.server.on_server_restart;
  scheduling.metrics = metrics;
  server::JobScheduler scheduler(server, store, scheduling, log);
  scheduler.start();

  admin::AdminServer admin_server({kit.server.listen_host, static_cast<std::uint16_t>(kit.server.admin_port), tls, workspace},
                                  scheduler, store, log);
  admin_server.start();
  ready = true;
  log->info("server '{}' of project '{}' serving on {}: sites on port {}, admins on port {}, {} known clients",
            kit.participant, kit.project, kit.server.listen_host, server.port(), admin_server.port(), kit.clients.size());

  log->info("signal {}: shutting down", process::wait_for_termination_signal());
  admin_server.stop();
  scheduler.stop();
  // Not final: the sites reconnect when the server comes back.
  server.stop("server shutting down", false);
  return process::kExitOk;
}

int run_server(const ServerArgs& a, const GlobalOptions& global) {
  if (!a.kit.empty()) return run_kit_server(a, global);
  if (a.run_job.empty()) {
    throw ConfigError({}, "cohort server needs --kit DIR (a long-running server) or --run-job RECIPE (one job)");
  }
  if (a.process.insecure == !a.identity.empty()) throw ConfigError({}, "give either --identity DIR or --insecure");
  process::block_termination_signals();
  raise_open_file_limit();
  memory::enable_tensor_accounting();
  auto log = process_logger(a.process, global);

  SingleJob job;
  job.recipe_file = a.run_job;
  job.overrides = a.overrides;
  job.job_id = a.job_id;
  job.sites = split(a.sites, ',');
  job.start_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.start_timeout_s * 1000));
  job.workspace = a.process.workspace;
  job.process_name = a.process.process_name;
  job.plugin_dirs = plugin_dirs(a.process);
  auto loaded = load_job(job);  // a wrong recipe fails here, before the server listens

  server::ServerOptions options;
  options.name = a.name;
  options.host = a.host;
  options.port = a.port;
  if (!a.identity.empty()) {
    const std::filesystem::path dir(a.identity);
    options.tls = tls::TlsFiles{dir / provisioning::kRootCertificateFile, dir / provisioning::kCertificateFile,
                                dir / provisioning::kKeyFile};
  }
  options.connection.chunk_bytes = chunk_bytes(a.process);
  options.reconnect_grace = std::chrono::milliseconds(static_cast<std::int64_t>(a.reconnect_grace_s * 1000));
  server::Server server(options, log);
  server.start();
  if (!a.port_file.empty()) config::write_text_file(a.port_file, std::to_string(server.port()) + "\n");
  const auto result = run_single_job(server, job, std::move(loaded), log);
  server.stop("job " + std::string(jobs::to_string(result.state)), true);
  return result.state == jobs::JobState::completed ? process::kExitOk : process::kExitFailure;
}

}  // namespace

void add_server_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("server", process::runtime_command_description("server"));
  auto a = std::make_shared<ServerArgs>();
  process::add_options(*cmd, *a);
  cmd->callback([&run, &global, a] { run = [&global, a] { return run_server(*a, global); }; });
}

}  // namespace cohort::runtime
