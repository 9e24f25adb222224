// The production path across hosts, as the README's "Running for real" lays it out:
// network namespaces (`ip netns`) joined by a bridge stand for the machines, each with an
// address of its own; the server (fl-server.test, which its certificate names, its ports
// bound to its own address only: listen_host), two clients and the admin each on their own
// host. Mid-job, site-1 moves to another host (its client starts again there, with another
// address), then the server is killed and its watchdog starts it again: the job completes,
// resumed. Skips, saying why, where the machine forbids network namespaces.
#include "support/kit_project.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include <unistd.h>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kServerName = "fl-server.test";

/// Hosts on one bridge, in namespaces of their own; removed on scope exit.
class Network {
 public:
  explicit Network(const fs::path& dir) : dir_(dir), prefix_("ch" + std::to_string(::getpid() % 100000)) {}
  ~Network() {
    for (const auto& ns : namespaces_) {
      command({"ip", "netns", "del", ns});
      std::error_code ec;
      fs::remove_all(fs::path("/etc/netns") / ns, ec);
    }
  }

  /// Creates the bridge; false (with why) where namespaces cannot be made here.
  bool open(std::string& why) {
    if (::geteuid() != 0) {
      why = "network namespaces need root";
      return false;
    }
    const auto created = command({"ip", "netns", "add", bridge()});
    if (created.status != 0) {
      why = "`ip netns add` failed: " + created.output;
      return false;
    }
    namespaces_.push_back(bridge());
    must({"ip", "-n", bridge(), "link", "add", "br0", "type", "bridge"});
    must({"ip", "-n", bridge(), "link", "set", "br0", "up"});
    return true;
  }

  /// A host `name` at 10.77.0.`last`, resolving the server's name to `server_address`.
  void add_host(const std::string& name, int last, const std::string& server_address) {
    const std::string ns = prefix_ + "-" + name, inside = prefix_ + name + "a", outside = prefix_ + name + "b";
    must({"ip", "netns", "add", ns});
    namespaces_.push_back(ns);
    must({"ip", "link", "add", inside, "type", "veth", "peer", "name", outside});
    must({"ip", "link", "set", inside, "netns", ns});
    must({"ip", "link", "set", outside, "netns", bridge()});
    must({"ip", "-n", ns, "link", "set", inside, "name", "eth0"});
    must({"ip", "-n", ns, "addr", "add", "10.77.0." + std::to_string(last) + "/24", "dev", "eth0"});
    must({"ip", "-n", ns, "link", "set", "eth0", "up"});
    must({"ip", "-n", ns, "link", "set", "lo", "up"});
    must({"ip", "-n", bridge(), "link", "set", outside, "master", "br0"});
    must({"ip", "-n", bridge(), "link", "set", outside, "up"});
    // `ip netns exec` shows /etc/netns/<ns>/hosts as the host's /etc/hosts.
    write_text(fs::path("/etc/netns") / ns / "hosts",
               "127.0.0.1 localhost\n" + server_address + " " + kServerName + "\n");
  }

  /// What runs a command on host `name`.
  std::vector<std::string> on(const std::string& name) const { return {"ip", "netns", "exec", prefix_ + "-" + name}; }

 private:
  std::string bridge() const { return prefix_ + "-br"; }
  Finished command(const std::vector<std::string>& argv) const { return run(argv, dir_ / "network.out"); }
  void must(const std::vector<std::string>& argv) const {
    const auto result = command(argv);
    INFO(result.output);
    REQUIRE(result.status == 0);
  }

  fs::path dir_;
  std::string prefix_;
  std::vector<std::string> namespaces_;
};

std::string server_log(const KitProject& project) { return read_text(project.server_workspace() / "logs" / "server.log"); }

}  // namespace

TEST_CASE("multi-host: server, clients and admin on hosts of their own, a client moves host and the server restarts mid-job") {
  TempDir dir;
  Network network(dir);
  std::string why;
  if (!network.open(why)) {
    MESSAGE("skipped: " << why);
    return;
  }
  const std::string server_address = "10.77.0.1";
  network.add_host("srv", 1, server_address);
  network.add_host("c1", 11, server_address);
  network.add_host("c2", 12, server_address);
  network.add_host("c1b", 13, server_address);  // where site-1 moves
  network.add_host("adm", 21, server_address);

  KitProject project(dir, {2, "listen_host = \"" + server_address + "\"\n", "", kServerName});
  // The server's certificate names its host.
  const auto san = run({"openssl", "x509", "-in", (project.kit("server") / "cert.pem").string(), "-noout", "-ext",
                        "subjectAltName"},
                       dir / "san.out");
  CHECK(san.output.find(kServerName) != std::string::npos);

  project.start("server", {}, network.on("srv"));
  project.start("site-1", {}, network.on("c1"));
  project.start("site-2", {}, network.on("c2"));
  project.run_admins_under(network.on("adm"));
  project.wait_until_serving();
  CHECK(server_log(project).find("'site-1' joined from 10.77.0.11") != std::string::npos);
  CHECK(server_log(project).find("'site-2' joined from 10.77.0.12") != std::string::npos);
  // Both ports listen on the server's address only.
  auto ss = network.on("srv");
  ss.insert(ss.end(), {"ss", "-ltnH"});
  const auto listening = run(ss, dir / "ss.out");
  std::istringstream lines(listening.output);
  int sockets = 0;
  for (std::string line; std::getline(lines, line); ++sockets)
    CHECK_MESSAGE(line.find(" " + server_address + ":") != std::string::npos, line);  // the local address column
  CHECK(sockets == 2);

  // FedAvg that goes on with one result while a site is away.
  const auto id = project.submit(
      "[job]\nname = \"multihost\"\nnum_rounds = 12\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n"
      "[controller.args]\nmin_responses = 1\n[executor]\nplugin = \"synthetic\"\n[executor.args]\ncompute_ms = 1000\n"
      "[model]\narch = \"synthetic\"\nsize_mb = 1\ntensors = 2\n");
  const auto rounds_done = [&] {
    const auto text = read_text(project.server_workspace() / "jobs" / id / "rounds.csv");
    return static_cast<int>(std::count(text.begin(), text.end(), '\n')) - 1;
  };
  REQUIRE(wait_until([&] { return rounds_done() >= 2; }));

  // site-1 moves: its client stops on one host and starts on another.
  project.stop("site-1");
  project.start("site-1", {}, network.on("c1b"));
  REQUIRE(wait_until([&] { return server_log(project).find("'site-1' joined from 10.77.0.13") != std::string::npos; }));
  const int moved_at = rounds_done();

  // The server dies under the job; its watchdog starts it again on its host.
  REQUIRE(wait_until([&] { return rounds_done() >= moved_at + 2; }));
  project.kill_server();

  const auto waited = project.admin({"wait", id, "--timeout", "300"});
  INFO(waited.output);
  INFO(read_text(project.server_workspace() / "jobs" / id / "logs" / "server.log"));
  REQUIRE(waited.status == 0);
  CHECK(waited.output.find("COMPLETED, round 12 of 12") != std::string::npos);
  CHECK(project.show(id, "resumed") == "1 time");
  // After the restart both sites came back, site-1 from its new host: it joined from there
  // once before the kill and once after (whether before or after the job's RESUMED line is
  // the scheduler's timing, not the test's).
  const auto log = server_log(project);
  std::size_t joins = 0;
  for (auto at = log.find("'site-1' joined from 10.77.0.13"); at != std::string::npos;
       at = log.find("'site-1' joined from 10.77.0.13", at + 1))
    ++joins;
  CHECK(joins >= 2);
}
