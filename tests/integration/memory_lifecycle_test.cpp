// The memory lifecycle in real processes, observed through the live-tensor and cleanup
// columns every process writes to memory/<process>.csv and the server to rounds.csv.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::test;

namespace {

std::string recipe(const std::string& memory, int rounds = 3) {
  return R"(
[job]
name = "lifecycle"
num_rounds = )" + std::to_string(rounds) + R"(
min_clients = 2
[controller]
plugin = "fedavg"
[controller.args]
final_validation = false
[executor]
plugin = "synthetic"
[model]
arch = "synthetic"
size_mb = 8.0
tensors = 4
[memory]
monitor_interval_ms = 200
)" + memory + R"(
[simulation]
clients = 2
workers = 2
)";
}

std::filesystem::path simulate(const TempDir& dir, const std::string& text, const std::map<std::string, std::string>& env = {}) {
  write_text(dir / "recipe.toml", text);
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "simulate.out", env);
  if (result.status != 0) MESSAGE(result.output);
  REQUIRE(result.status == 0);
  return only_job(dir / "ws");
}

/// The last sample of a process's memory file.
cohort::jobs::MemoryRow last_sample(const std::filesystem::path& job, const std::string& process) {
  auto rows = cohort::jobs::read_memory(cohort::jobs::JobDirectory::at(job).memory_csv(process));
  REQUIRE(!rows.empty());
  return rows.back();
}

}  // namespace

TEST_CASE("memory lifecycle: after each round the server holds the global model only, clients nothing") {
  TempDir dir;
  const auto job = simulate(dir, recipe(""));
  for (const auto& round : cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(job).rounds_csv())) {
    CHECK(round.model_mb == doctest::Approx(8.0));
    REQUIRE(round.server_tensor_mb);
    CHECK(*round.server_tensor_mb == doctest::Approx(round.model_mb).epsilon(0.001));
  }
  for (const char* client : {"client-1", "client-2"}) CHECK(last_sample(job, client).tensor_mb.value_or(-1) < 0.01);
}

TEST_CASE("memory lifecycle: clear_cache = false keeps the last models on the clients") {
  TempDir dir;
  const auto job = simulate(dir, recipe("clear_cache = false"));
  // The synthetic executor updates the received tensors in place: received and sent share
  // one model's storage.
  for (const char* client : {"client-1", "client-2"}) CHECK(last_sample(job, client).tensor_mb.value_or(-1) == doctest::Approx(8.0));
}

TEST_CASE("memory lifecycle: cleanups run on the rounds the settings name") {
  TempDir dir;
  // server every 2 rounds over 4 rounds: after rounds 1 and 3; clients every round: 4.
  const auto job = simulate(dir, recipe("server_memory_gc_rounds = 2\nclient_memory_gc_rounds = 1", 4));
  CHECK(last_sample(job, "server").cleanups == 2);
  for (const char* client : {"client-1", "client-2"}) CHECK(last_sample(job, client).cleanups == 4);
}

TEST_CASE("memory lifecycle: COHORT_CLIENT_MEMORY_GC_ROUNDS overrides the recipe in client processes") {
  TempDir dir;
  const auto job = simulate(dir, recipe("client_memory_gc_rounds = 0"), {{"COHORT_CLIENT_MEMORY_GC_ROUNDS", "1"}});
  for (const char* client : {"client-1", "client-2"}) CHECK(last_sample(job, client).cleanups == 3);
  CHECK(last_sample(job, "server").cleanups == 0);
}
