// cohort poc: a proof-of-concept project on this machine (server, N clients, one
// project_admin), the quickest way to try the production path: prepare writes and
// provisions it, start and stop run the kits under their watchdogs (as start.sh and
// stop.sh do), clean removes it.
#include "cli/commands.hpp"

#include "cli/admin_kit.hpp"
#include "provisioning/kit_runner.hpp"
#include "provisioning/project.hpp"
#include "process/child_process.hpp"
#include "provisioning/startup_kit.hpp"

#include <cohort/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <thread>

#include <sys/wait.h>

namespace fs = std::filesystem;

namespace cohort::cli {

namespace {

inline constexpr const char* kAdminName = "admin@poc.local";

struct PocArgs {
  std::string workspace = "/tmp/cohort/poc";
  int clients = 2;
  bool force = false;
  /// How long `start` waits for the server and every client to be up.
  int timeout_s = 120;
};

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

provisioning::Project load(const PocArgs& a) {
  const fs::path file = fs::path(a.workspace) / "project.toml";
  if (!fs::exists(file)) throw ConfigError({}, "no POC project in " + a.workspace + ": run `cohort poc prepare` first");
  return provisioning::read_project(file);
}

int prepare(const PocArgs& a) {
  const fs::path ws(a.workspace);
  if (fs::exists(ws)) {
    if (!a.force) throw ConfigError({}, a.workspace + " exists: `cohort poc clean` first, or --force");
    fs::remove_all(ws);
  }
  fs::create_directories(ws);
  const auto fl = free_port();
  auto admin = free_port();
  while (admin == fl) admin = free_port();
  std::ostringstream text;
  text << "# A proof-of-concept project on this machine, written by `cohort poc prepare`.\n[project]\nname = \"poc\"\n\n"
       << "[server]\nname = \"server\"\nhost = \"localhost\"\nfl_port = " << fl << "\nadmin_port = " << admin << "\n";
  for (int i = 1; i <= a.clients; ++i) text << "\n[[clients]]\nname = \"site-" << i << "\"\norg = \"poc\"\n";
  text << "\n[[admins]]\nname = \"" << kAdminName << "\"\norg = \"poc\"\nrole = \"project_admin\"\n";
  {
    std::ofstream out(ws / "project.toml");
    out << text.str();
  }
  const auto project = provisioning::read_project(ws / "project.toml");
  provisioning::provision(project, ws, process::self_executable());
  std::cout << "POC project with " << a.clients << " clients in " << ws.string() << " (server ports " << fl << ", " << admin
            << ")\nnext: cohort poc start --workspace " << ws.string() << "\n";
  return process::kExitOk;
}

/// Waits until the server answers on its admin port and says every client of the project
/// is connected (so it accepts FL connections too). Throws, naming the log to read, when
/// that does not happen within `timeout`, or the server's watchdog (`server_watchdog`,
/// started by this process) gave up.
void wait_until_ready(const provisioning::Project& project, const fs::path& ws, pid_t server_watchdog,
                      std::chrono::seconds timeout) {
  const auto endpoint = admin_endpoint((ws / kAdminName).string());
  const auto start = std::chrono::steady_clock::now();
  std::string waiting_for = "the server's admin port";
  fs::path log = ws / project.server.name / "log.txt";
  while (std::chrono::steady_clock::now() - start < timeout) {
    if (int status = 0; ::waitpid(server_watchdog, &status, WNOHANG) == server_watchdog)
      throw std::runtime_error("the server stopped while starting: see " + log.string());
    try {
      const auto reply = admin::admin_request(endpoint, {admin::Command::status});
      if (!reply.value("ok", false)) throw std::runtime_error("the server refused the POC admin: " + reply.value("error", ""));
      std::vector<std::string> missing;
      for (const auto& c : project.clients) {
        const auto& sites = reply["sites"];
        if (std::find(sites.begin(), sites.end(), c.name) == sites.end()) missing.push_back(c.name);
      }
      if (missing.empty()) {
        std::cout << "ready in " << std::fixed << std::setprecision(1)
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                  << " s: the server takes connections and its " << project.clients.size() << " clients are connected\n";
        return;
      }
      waiting_for = "'" + missing.front() + "' to connect";
      log = ws / missing.front() / "log.txt";
    } catch (const admin::ServerUnreachable& e) {
      if (!e.nothing_sent) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error("still waiting for " + waiting_for + " after " + std::to_string(timeout.count()) +
                           " s: see " + log.string() + " (`cohort poc stop` stops what started)");
}

int start(const PocArgs& a) {
  const auto project = load(a);
  const fs::path ws(a.workspace);
  std::cout << "starting the server and " << project.clients.size() << " clients\n";
  std::vector<std::string> participants{project.server.name};
  for (const auto& c : project.clients) participants.push_back(c.name);
  pid_t server_watchdog = 0;
  for (const auto& name : participants) {
    const pid_t pid = provisioning::start_kit(ws / name, process::self_executable());
    if (name == project.server.name) server_watchdog = pid;
    std::cout << "  started " << name << " (watchdog pid " << pid << "); log: " << (ws / name / "log.txt").string() << "\n";
  }
  wait_until_ready(project, ws, server_watchdog, std::chrono::seconds(a.timeout_s));
  std::cout << "admin commands: " << (ws / kAdminName / "startup" / "admin.sh").string()
            << " submit recipes/fedavg_fashion_mnist.toml | list | wait ID | download ID\n";
  return process::kExitOk;
}

int stop(const PocArgs& a) {
  const auto project = load(a);
  const fs::path ws(a.workspace);
  for (const auto& c : project.clients)
    if (provisioning::stop_kit(ws / c.name)) std::cout << "  stopped " << c.name << "\n";
  if (provisioning::stop_kit(ws / project.server.name)) std::cout << "  stopped " << project.server.name << "\n";
  std::cout << "stopped\n";
  return process::kExitOk;
}

int clean(const PocArgs& a) {
  if (fs::exists(fs::path(a.workspace) / "project.toml")) stop(a);
  fs::remove_all(a.workspace);
  std::cout << "removed " << a.workspace << "\n";
  return process::kExitOk;
}

}  // namespace

void add_poc_command(CLI::App& app, GlobalOptions&, Command& run) {
  process::CommandGroup<PocArgs> group(
      app, "poc", "A proof-of-concept project on this machine: prepare, start, stop, clean", run,
      [](CLI::App& cmd, PocArgs& a) { cmd.add_option("--workspace", a.workspace, "The POC folder")->capture_default_str(); });
  auto& a = group.args();
  auto* p = group.add("prepare", "Write and provision a project with N clients and a project_admin", &prepare);
  p->add_option("-n,--clients", a.clients, "Number of clients")->capture_default_str()->check(process::between(1, 100));
  p->add_flag("--force", a.force, "Replace an existing POC folder");
  auto* s = group.add("start", "Start the server and the clients from their kits; return once all are connected",
                      &start);
  s->add_option("--timeout", a.timeout_s, "Seconds to wait for the server and every client to be up")
      ->capture_default_str()
      ->check(process::at_least(1));
  group.add("stop", "Stop the clients and the server", &stop);
  group.add("clean", "Stop everything and remove the POC folder", &clean);
}

}  // namespace cohort::cli
