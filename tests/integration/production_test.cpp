// The production path: a provisioned project, long-running server and clients started
// from their kits' start.sh, admins submitting and fetching jobs; kill-and-restart; and
// the security refusals. Every process is real; every stop.sh runs even when a check fails.
#include "support/kit_project.hpp"
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "config/text_file.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/certificates.hpp"
#include "provisioning/local_project.hpp"

#include <cohort/model.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

std::string environment_of(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string entry;
  while (std::getline(in, entry, '\0'))
    if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
  return "";
}

bool maps_show_jemalloc(pid_t pid) {
  return read_text("/proc/" + std::to_string(pid) + "/maps").find("libjemalloc") != std::string::npos;
}

std::string synthetic_recipe(int rounds, int compute_ms = 0) {
  return "[job]\nname = \"synthetic\"\nnum_rounds = " + std::to_string(rounds) +
         "\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n[executor]\nplugin = \"synthetic\"\n"
         "[executor.args]\ncompute_ms = " + std::to_string(compute_ms) +
         "\n[model]\narch = \"synthetic\"\nsize_mb = 1\ntensors = 2\n";
}

}  // namespace

TEST_CASE("production: kits start a server and two clients, an admin submits FedAvg, waits, downloads, loads the model") {
  TempDir dir;
  KitProject project(dir);
  // With the jemalloc switch on: every process must have it mapped.
  const std::map<std::string, std::string> jemalloc{{"COHORT_ENABLE_JEMALLOC_PRELOAD", "true"}};
  project.start("server", jemalloc);
  project.start("site-1", jemalloc);
  project.start("site-2", jemalloc);
  project.wait_until_serving();

  CHECK(environment_of(project.pid("server"), "MALLOC_ARENA_MAX") == "4");
  CHECK(environment_of(project.pid("site-1"), "MALLOC_ARENA_MAX") == "2");
  CHECK(environment_of(project.pid("site-2"), "MALLOC_ARENA_MAX") == "2");
  CHECK(environment_of(project.pid("site-1"), "MALLOC_CONF") == "dirty_decay_ms:5000,muzzy_decay_ms:5000");
  CHECK(environment_of(project.pid("server"), "MALLOC_MMAP_THRESHOLD_") == "4194304");
  CHECK(environment_of(project.pid("site-2"), "MALLOC_MMAP_THRESHOLD_") == "4194304");
  for (const char* who : {"server", "site-1", "site-2"}) CHECK_MESSAGE(maps_show_jemalloc(project.pid(who)), who);

  std::string recipe = read_text(fs::path(COHORT_SOURCE_DIR) / "recipes" / "fedavg_fashion_mnist.toml");
  recipe.replace(recipe.find("partition = \"iid\""), 17,
                 "partition = \"iid\"\nmax_train_samples = 4000\nmax_test_samples = 1000");
  const auto id = project.submit(recipe);
  auto waited = project.admin({"wait", id, "--timeout", "300"});
  INFO(waited.output);
  REQUIRE(waited.status == 0);
  CHECK(waited.output.find("COMPLETED, round 3 of 3") != std::string::npos);

  auto downloaded = project.admin({"download", id, (dir / "result").string()});
  REQUIRE(downloaded.status == 0);
  const auto model = cohort::load_checkpoint(dir / "result" / "global_model.pt");
  CHECK(model.tensors.size() == 4);  // MLP: fc1/fc2 weight and bias
  CHECK(fs::exists(dir / "result" / "best_model.pt"));
  CHECK(fs::exists(dir / "result" / "metrics.csv"));
  CHECK(read_text(dir / "result" / "recipe.toml") == recipe);
  CHECK(cohort::jobs::JobDirectory::at(dir / "result").read_status()->state == cohort::jobs::JobState::completed);
  CHECK(project.admin({"logs", id}).output.find("ended COMPLETED") != std::string::npos);
}

TEST_CASE("production: a server killed with SIGKILL restarts under its watchdog, lists every job, marks the running one ABNORMAL (on_server_restart = \"abnormal\")") {
  TempDir dir;
  KitProject project(dir, {2, "on_server_restart = \"abnormal\"\n"});
  project.start("server");
  project.start("site-1");
  project.start("site-2");
  project.wait_until_serving();
  // Without the switch, no jemalloc.
  CHECK_FALSE(maps_show_jemalloc(project.pid("server")));

  const auto finished = project.submit(synthetic_recipe(2));
  REQUIRE(project.admin({"wait", finished, "--timeout", "120"}).status == 0);
  const auto running = project.submit(synthetic_recipe(200, 200));
  for (int i = 0; i < 200 && project.status(running) != "RUNNING"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(project.status(running) == "RUNNING");

  const pid_t before = project.pid("server");
  ::kill(before, SIGKILL);
  // The watchdog starts a new server process; the clients reconnect to it.
  pid_t after = before;
  for (int i = 0; i < 200 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = project.pid("server");
  }
  REQUIRE(after != before);
  for (int i = 0; i < 100 && project.admin({"list"}).status != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const auto list = project.admin({"list"});
  REQUIRE(list.status == 0);
  CHECK(list.output.find(finished) != std::string::npos);
  CHECK(list.output.find(running) != std::string::npos);
  CHECK(project.status(finished) == "COMPLETED");
  CHECK(project.status(running) == "ABNORMAL");
  CHECK(project.show(running, "last error").find("the server stopped while the job was running") != std::string::npos);
  auto downloaded = project.admin({"download", finished, (dir / "kept").string()});
  REQUIRE(downloaded.status == 0);
  CHECK(cohort::load_checkpoint(dir / "kept" / "global_model.pt").tensors.size() == 2);

  // The restarted server runs new jobs with the reconnected clients.
  const auto again = project.submit(synthetic_recipe(2));
  CHECK(project.admin({"wait", again, "--timeout", "120"}).status == 0);
}

TEST_CASE("production: foreign, expired and unknown certificates, roles and tampered kits are refused, the server keeps serving") {
  TempDir dir;
  KitProject project(dir, {2, "", "[[admins]]\nname = \"lead@b\"\norg = \"b\"\nrole = \"lead\"\n"
                       "[[admins]]\nname = \"orgadmin@a\"\norg = \"a\"\nrole = \"org_admin\"\n"
                       "[[admins]]\nname = \"member@a\"\norg = \"a\"\nrole = \"member\"\n"});
  project.start("server");
  project.start("site-1");
  project.start("site-2");
  project.wait_until_serving();
  const std::string server_address = "localhost:" + [&] {
    const auto kit = read_text(project.kit("site-1") / "kit.toml");
    const auto at = kit.find("fl_port = ") + 10;
    return kit.substr(at, kit.find('\n', at) - at);
  }();
  using cohort::provisioning::CertificateAuthority;
  using cohort::provisioning::CertificateRole;
  using cohort::provisioning::KeyType;
  auto write_identity = [](const fs::path& folder, const CertificateAuthority& ca, const cohort::provisioning::Identity& id) {
    cohort::config::write_text_file(folder / "rootCA.pem", ca.certificate_pem());
    cohort::config::write_text_file(folder / "cert.pem", id.certificate_pem);
    cohort::config::write_text_file(folder / "key.pem", id.key_pem, 0600);
  };
  const auto project_ca = CertificateAuthority::load(read_text(project.kits() / "ca" / "rootCA.pem"),
                                                     read_text(project.kits() / "ca" / "rootCA.key"));
  auto try_client = [&](const std::string& name, const fs::path& identity) {
    cohort::process::ChildProcess client(
        cohort_command({"client", "--server", server_address, "--identity", identity.string(), "--workspace",
                        (dir / ("ws-" + name)).string()}),
        {}, dir / (name + ".out"));
    auto status = client.wait_for(std::chrono::seconds(4));
    if (!status) {
      client.signal(SIGTERM);
      client.wait_for(std::chrono::seconds(10));
    }
    return std::pair{status, read_text(dir / (name + ".out"))};
  };

  {
    // A certificate from another CA, with a name the project knows: the handshake fails.
    const auto other = CertificateAuthority::create("other", KeyType::ec_p256, std::chrono::hours(24));
    write_identity(dir / "foreign" / "site-1", other, other.issue("site-1", CertificateRole::client, KeyType::ec_p256, std::chrono::hours(24)));
    auto [foreign_status, foreign_out] = try_client("foreign", dir / "foreign" / "site-1");
    CHECK_FALSE(foreign_status.has_value());  // never admitted: still retrying
    CHECK(foreign_out.find("TLS handshake failed") != std::string::npos);

    // An expired certificate from the project's own CA.
    write_identity(dir / "expired" / "site-2", project_ca,
                   project_ca.issue("site-2", CertificateRole::client, KeyType::ec_p256, std::chrono::hours(1), {},
                                    std::chrono::hours(-48)));
    auto [expired_status, expired_out] = try_client("expired", dir / "expired" / "site-2");
    CHECK_FALSE(expired_status.has_value());
    CHECK(expired_out.find("TLS handshake failed") != std::string::npos);

    // A valid certificate for a name the project does not know: refused, and it exits.
    write_identity(dir / "unknown" / "site-9", project_ca,
                   project_ca.issue("site-9", CertificateRole::client, KeyType::ec_p256, std::chrono::hours(24)));
    auto [unknown_status, unknown_out] = try_client("unknown", dir / "unknown" / "site-9");
    CHECK(unknown_status == 1);
    CHECK(unknown_out.find("site-9") != std::string::npos);

    // Admin commands beyond the role.
    auto member = project.admin({"submit", (fs::path(COHORT_SOURCE_DIR) / "recipes" / "fedavg_fashion_mnist.toml").string()}, "member@a");
    CHECK(member.status != 0);
    CHECK(member.output.find("role member") != std::string::npos);
    auto org_admin = project.admin({"submit", (fs::path(COHORT_SOURCE_DIR) / "recipes" / "fedavg_fashion_mnist.toml").string()}, "orgadmin@a");
    CHECK(org_admin.status != 0);
    CHECK(org_admin.output.find("org_admin may not submit") != std::string::npos);
    const auto lead_job = project.submit(synthetic_recipe(2), "lead@b");
    const auto boss_job = project.submit(synthetic_recipe(2));
    auto lead_abort = project.admin({"abort", boss_job}, "lead@b");
    CHECK(lead_abort.status != 0);
    CHECK(lead_abort.output.find("lead manages only the jobs it submitted") != std::string::npos);
    // org_admin of org a manages jobs from org a only: not lead@b's.
    auto org_download = project.admin({"download", lead_job, (dir / "x").string()}, "orgadmin@a");
    CHECK(org_download.status != 0);
    CHECK(org_download.output.find("only jobs submitted from its org 'a'") != std::string::npos);
    CHECK(project.admin({"list"}, "member@a").status == 0);
    CHECK(project.admin({"wait", lead_job, "--timeout", "120"}, "lead@b").status == 0);

    // A client kit with an edited script: the process refuses to start, naming the file.
    const fs::path tampered = dir / "tampered";
    fs::copy(project.kit("site-1"), tampered, fs::copy_options::recursive);
    {
      std::ofstream out(tampered / "stop.sh", std::ios::app);
      out << "echo extra\n";
    }
    auto refused = run(cohort_command({"client", "--kit", tampered.string()}), dir / "tampered.out");
    CHECK(refused.status == 3);
    CHECK(refused.output.find("stop.sh was modified after provisioning") != std::string::npos);

    // A certificate without an admin role on the admin port: refused there.
    const fs::path site_as_admin = dir / "site-as-admin";
    fs::copy(project.kit("boss@a"), site_as_admin, fs::copy_options::recursive);
    fs::copy_file(project.kit("site-1") / "cert.pem", site_as_admin / "cert.pem", fs::copy_options::overwrite_existing);
    fs::copy_file(project.kit("site-1") / "key.pem", site_as_admin / "key.pem", fs::copy_options::overwrite_existing);
    auto not_admin = run(cohort_command({"job", "list", "--kit", site_as_admin.string()}), dir / "not-admin.out");
    CHECK(not_admin.status == 3);  // the kit no longer matches its signature
    CHECK(not_admin.output.find("cert.pem was modified") != std::string::npos);

    // A job whose sites never all connect ends CAN_NOT_SCHEDULE (schedule_timeout_s = 5).
    std::string three = synthetic_recipe(2);
    three.replace(three.find("min_clients = 2"), 15, "min_clients = 3");
    const auto unschedulable = project.submit(three);
    CHECK(project.admin({"wait", unschedulable, "--timeout", "60"}).status != 0);
    CHECK(project.status(unschedulable) == "CAN_NOT_SCHEDULE");

    // And through all of it the server kept serving: a job completes.
    const auto after = project.submit(synthetic_recipe(2));
    CHECK(project.admin({"wait", after, "--timeout", "120"}).status == 0);
  }
}
