// `cohort server` and `cohort client` started separately, as an operator would, over
// mutual TLS with certificates from a real CA.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/certificates.hpp"
#include "provisioning/local_project.hpp"

#include <cohort/model.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <thread>

using namespace cohort::test;
using cohort::process::ChildProcess;

namespace {

const char* kRecipe = R"(
[job]
name = "processes"
num_rounds = 2
min_clients = 2
[controller]
plugin = "fedavg"
[executor]
plugin = "synthetic"
[model]
arch = "synthetic"
size_mb = 0.1
)";

}  // namespace

TEST_CASE("processes: a server and two client processes run a job over mutual TLS") {
  TempDir dir;
  cohort::provisioning::provision_local(dir / "kits", "test", "server", {"site-1", "site-2"});
  write_text(dir / "recipe.toml", kRecipe);
  auto server = start_job_server(dir, "site-1,site-2", {"--start-timeout", "60"});
  const auto port = wait_for_line(dir / "port", server);
  auto c1 = start_job_client(dir, port, "client-1", {dir / "kits" / "site-1"});
  // While the server waits for site-2, `memory-info` lists both processes by role and name
  // (each is the runtime executable by then, with the command line it was given).
  const auto listed = run(cohort_command({"memory-info"}), dir / "memory-info.out");
  CHECK(listed.status == 0);
  CHECK(listed.output.find("client-1") != std::string::npos);
  CHECK(listed.output.find(" server ") != std::string::npos);
  auto c2 = start_job_client(dir, port, "client-2", {dir / "kits" / "site-2"});
  auto status = server.wait_for(std::chrono::seconds(120));
  if (status != 0) MESSAGE(read_text(dir / "server.out"));
  REQUIRE(status == 0);
  CHECK(c1.wait_for(std::chrono::seconds(30)) == 0);
  CHECK(c2.wait_for(std::chrono::seconds(30)) == 0);
  // (1 + 2) / 2 = 1.5 per round
  auto model = cohort::load_checkpoint(only_job(dir / "ws") / "global_model.pt");
  CHECK(model.tensors[0].tensor[0].item<float>() == 3.0f);
}

TEST_CASE("processes: a site with a certificate from another CA is refused, the server goes on") {
  TempDir dir;
  cohort::provisioning::provision_local(dir / "kits", "test", "server", {"site-1"});
  cohort::provisioning::provision_local(dir / "other", "intruders", "server", {"site-2"});
  write_text(dir / "recipe.toml", kRecipe);
  auto server = start_job_server(dir, "site-1", {"--start-timeout", "60"});
  const auto port = wait_for_line(dir / "port", server);
  // The intruder keeps retrying; it never gets in.
  auto intruder = start_job_client(dir, port, "intruder", {dir / "other" / "site-2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto good = start_job_client(dir, port, "client-1", {dir / "kits" / "site-1"});
  REQUIRE(server.wait_for(std::chrono::seconds(120)) == 0);
  CHECK(good.wait_for(std::chrono::seconds(30)) == 0);
  intruder.signal(SIGTERM);
  intruder.wait_for(std::chrono::seconds(10));
  const auto log = read_text(dir / "server.log");
  CHECK(log.find("site 'site-2' joined") == std::string::npos);
}
