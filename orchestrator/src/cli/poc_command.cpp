// cohort poc: a proof-of-concept project on this machine (server, N clients, one
// project_admin), the quickest way to try the production path: prepare writes and
// provisions it, start and stop run the kits' scripts, clean removes it.
#include "cli/commands.hpp"

#include "provisioning/project.hpp"
#include "process/child_process.hpp"
#include "provisioning/startup_kit.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <fstream>
#include <iostream>

namespace fs = std::filesystem;

namespace cohort::cli {

namespace {

inline constexpr const char* kAdminName = "admin@poc.local";

struct PocArgs {
  std::string workspace = "/tmp/cohort/poc";
  int clients = 2;
  bool force = false;
};

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

provisioning::Project load(const PocArgs& a) {
  const fs::path file = fs::path(a.workspace) / "project.toml";
  if (!fs::exists(file)) throw std::invalid_argument("no POC project in " + a.workspace + ": run `cohort poc prepare` first");
  return provisioning::read_project(file);
}

int run_script(const fs::path& script) {
  process::ChildProcess p({"bash", script.string()}, {}, script.parent_path().parent_path() / "poc.out");
  const auto status = p.wait_for(std::chrono::seconds(60));
  std::ifstream in(script.parent_path().parent_path() / "poc.out");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  std::cout << "  " << last << "\n";
  fs::remove(script.parent_path().parent_path() / "poc.out");
  return status.value_or(1);
}

bool running(const fs::path& participant) {
  std::ifstream in(participant / "watchdog.pid");
  pid_t pid = 0;
  return in >> pid && pid > 0 && ::kill(pid, 0) == 0;
}

int prepare(const PocArgs& a) {
  const fs::path ws(a.workspace);
  if (fs::exists(ws)) {
    if (!a.force) throw std::invalid_argument(a.workspace + " exists: `cohort poc clean` first, or --force");
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

int start(const PocArgs& a) {
  const auto project = load(a);
  const fs::path ws(a.workspace);
  std::cout << "starting the server and " << project.clients.size() << " clients\n";
  int status = run_script(ws / project.server.name / "startup" / "start.sh");
  for (const auto& c : project.clients) status |= run_script(ws / c.name / "startup" / "start.sh");
  std::cout << "admin commands: " << (ws / kAdminName / "startup" / "admin.sh").string()
            << " submit recipes/fedavg_fashion_mnist.toml | list | wait ID | download ID\n";
  return status ? process::kExitFailure : process::kExitOk;
}

int stop(const PocArgs& a) {
  const auto project = load(a);
  const fs::path ws(a.workspace);
  for (const auto& c : project.clients)
    if (running(ws / c.name)) run_script(ws / c.name / "startup" / "stop.sh");
  if (running(ws / project.server.name)) run_script(ws / project.server.name / "startup" / "stop.sh");
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
  p->add_option("-n,--clients", a.clients, "Number of clients")->capture_default_str()->check(CLI::Range(1, 100));
  p->add_flag("--force", a.force, "Replace an existing POC folder");
  group.add("start", "Start the server and the clients from their kits", &start);
  group.add("stop", "Stop the clients and the server", &stop);
  group.add("clean", "Stop everything and remove the POC folder", &clean);
}

}  // namespace cohort::cli
