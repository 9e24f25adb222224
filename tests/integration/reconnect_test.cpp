// Connections that drop mid-job cost nothing: every connection of a running job is cut at
// once with `ss -K` (the kernel resets both ends, as a network failure would), twice, and
// the job still completes with every site's result in every round. The clients reconnect,
// the server's grace period keeps their tasks, and each task goes on or is sent again.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

constexpr int kSites = 3;
constexpr int kRounds = 4;

std::string recipe() {
  return "[job]\nname = \"cuts\"\nnum_rounds = " + std::to_string(kRounds) + "\nmin_clients = " +
         std::to_string(kSites) +
         "\n[controller]\nplugin = \"fedavg\"\n[controller.args]\nfinal_validation = false\n"
         "task_timeout_s = 60\n[executor]\nplugin = \"synthetic\"\n[executor.args]\ncompute_ms = 1500\n"
         "[model]\narch = \"synthetic\"\nsize_mb = 8\ntensors = 4\n[simulation]\nclients = " +
         std::to_string(kSites) + "\nworkers = " + std::to_string(kSites) + "\n";
}

std::size_t rounds_done(const fs::path& ws) {
  if (!fs::exists(ws / "jobs")) return 0;
  for (const auto& job : fs::directory_iterator(ws / "jobs")) {
    const auto csv = cohort::jobs::JobDirectory::at(job.path()).rounds_csv();
    if (fs::exists(csv)) return cohort::jobs::read_rounds(csv).size();
  }
  return 0;
}

/// Resets every established TCP connection to or from `port`, both ends.
void cut_every_connection(const TempDir& dir, const std::string& port, const std::string& name) {
  auto cut = run({"ss", "-K", "state", "established", "( sport = :" + port + " or dport = :" + port + " )"},
                 dir / (name + ".out"));
  INFO(cut.output);
  REQUIRE(cut.status == 0);
}

}  // namespace

TEST_CASE("reconnect: every connection of a running job cut at once, twice, and every round has every result") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe());
  const fs::path ws = dir / "ws";
  cohort::process::ChildProcess simulate(
      cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", ws.string()}), {}, dir / "simulate.out");
  const std::string port = wait_for_line(ws / "server.port", simulate);
  REQUIRE_FALSE(port.empty());

  // While round 2's sites train (their tasks are in flight on the server).
  REQUIRE(wait_until([&] { return rounds_done(ws) >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cut_every_connection(dir, port, "cut-1");
  // Just as round 3 begins: its tasks' models are on their way.
  REQUIRE(wait_until([&] { return rounds_done(ws) >= 2; }, std::chrono::seconds(120), std::chrono::milliseconds(1)));
  cut_every_connection(dir, port, "cut-2");

  const auto status = simulate.wait_for(std::chrono::seconds(180));
  const std::string output = read_text(dir / "simulate.out");
  INFO(output);
  REQUIRE(status);
  CHECK(*status == 0);
  const auto job = only_job(ws);
  const auto rounds = cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(job).rounds_csv());
  REQUIRE(rounds.size() == kRounds);
  for (const auto& r : rounds) {
    INFO("round " << r.round);
    CHECK(r.results == kSites);
    CHECK(r.failed.value_or(0) == 0);
  }
  const std::string log = read_text(ws / "logs" / "server.log");
  CHECK(log.find("is away") != std::string::npos);  // the cuts happened
  CHECK(log.find("is back") != std::string::npos);
}
