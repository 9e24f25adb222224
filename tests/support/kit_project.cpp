#include "support/kit_project.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;

namespace cohort::test {

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

KitProject::KitProject(const TempDir& dir, KitProjectOptions options)
    : dir_(dir), options_(std::move(options)), kits_(dir / "kits") {
  const auto fl = free_port();
  auto admin = free_port();
  while (admin == fl) admin = free_port();
  std::string clients;
  for (const auto& site : sites())
    clients += "[[clients]]\nname = \"" + site + "\"\norg = \"" + (site.back() % 2 ? "a" : "b") + "\"\n";
  write_text(dir / "project.toml",
                          "[project]\nname = \"test\"\n[server]\nhost = \"" + options_.host + "\"\nfl_port = " + std::to_string(fl) +
                              "\nadmin_port = " + std::to_string(admin) + "\nschedule_timeout_s = 5\n" +
                              options_.server + "\n" + clients +
                              "[[admins]]\nname = \"boss@a\"\norg = \"a\"\nrole = \"project_admin\"\n" + options_.extra);
  auto result = run(cohort_command({"provision", (dir / "project.toml").string(), "-o", kits_.string()}),
                    dir / "provision.out");
  INFO(result.output);
  REQUIRE(result.status == 0);
}

KitProject::~KitProject() {
  for (auto it = started_.rbegin(); it != started_.rend(); ++it)
    run({"bash", (kits_ / *it / "startup" / "stop.sh").string()}, dir_ / ("stop-" + *it + ".out"));
}

std::vector<std::string> KitProject::sites() const {
  std::vector<std::string> out;
  for (int i = 1; i <= options_.clients; ++i) out.push_back("site-" + std::to_string(i));
  return out;
}

void KitProject::start(const std::string& name, const std::map<std::string, std::string>& env,
                       const std::vector<std::string>& wrapper) {
  std::vector<std::string> argv = wrapper;
  argv.insert(argv.end(), {"bash", (kit(name) / "start.sh").string()});
  auto result = run(argv, dir_ / ("start-" + name + ".out"), env);
  INFO(result.output);
  REQUIRE(result.status == 0);
  started_.push_back(name);
}

void KitProject::stop(const std::string& name) {
  auto result = run({"bash", (kit(name) / "stop.sh").string()}, dir_ / ("stop-" + name + ".out"));
  INFO(result.output);
  REQUIRE(result.status == 0);
}

pid_t KitProject::pid(const std::string& name) const {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(kits_ / name / "process.pid");
    pid_t pid = 0;
    if (in >> pid && pid > 0 && ::kill(pid, 0) == 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("no process for " << name);
  return 0;
}

void KitProject::kill_server() {
  const pid_t before = pid("server");
  ::kill(before, SIGKILL);
  pid_t after = before;
  for (int i = 0; i < 300 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = pid("server");
  }
  REQUIRE_MESSAGE(after != before, "the watchdog did not start the server again");
}

Finished KitProject::admin(const std::vector<std::string>& args, const std::string& who) const {
  std::vector<std::string> command{"job"};
  command.insert(command.end(), args.begin(), args.end());
  command.push_back("--kit");
  command.push_back(kit(who).string());
  std::vector<std::string> argv = admin_wrapper_;
  for (auto& word : cohort_command(command)) argv.push_back(std::move(word));
  // One output file per command: run() appends.
  return run(argv, dir_ / ("admin-" + std::to_string(++commands_) + ".out"), {},
             std::chrono::seconds(300));
}

void KitProject::wait_until_serving() const {
  for (int i = 0; i < 300; ++i) {
    const auto log = read_text(kits_ / "server" / "logs" / "server.log");
    bool all = admin({"list"}).status == 0;
    for (const auto& site : sites()) all = all && log.find("'" + site + "' joined") != std::string::npos;
    if (all) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("the server did not start serving: " << read_text(kits_ / "server" / "log.txt"));
}

std::string KitProject::submit(const std::string& recipe_text, const std::string& who) const {
  write_text(dir_ / "recipe.toml", recipe_text);
  auto result = admin({"submit", (dir_ / "recipe.toml").string()}, who);
  INFO(result.output);
  REQUIRE(result.status == 0);
  std::string id = result.output;
  while (!id.empty() && (id.back() == '\n')) id.pop_back();
  return id.substr(id.rfind('\n') == std::string::npos ? 0 : id.rfind('\n') + 1);
}

std::string KitProject::show(const std::string& id, const std::string& field) const {
  const auto out = admin({"show", id}).output;
  std::string label = field;
  label.resize(std::max<std::size_t>(field.size() + 1, 11), ' ');
  const auto at = out.find("\n" + label);
  if (at == std::string::npos) return "";
  const auto begin = at + 1 + label.size();
  return out.substr(begin, out.find('\n', begin) - begin);
}

std::string KitProject::status(const std::string& id) const { return show(id, "status"); }

}  // namespace cohort::test
