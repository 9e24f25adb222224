// The memory lifecycle in real processes, observed through the live-tensor and cleanup
// columns every process writes to memory/<process>.csv and the server to rounds.csv.
#include "support/processes.hpp"
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
std::vector<std::string> last_sample(const std::filesystem::path& job, const std::string& process) {
  auto rows = read_csv(job / "memory" / (process + ".csv"));
  REQUIRE(!rows.empty());
  return rows.back();
}

double cell(const std::vector<std::string>& row, std::size_t i) { return std::stod(row.at(i)); }

// memory.csv columns
constexpr std::size_t kTensorMb = 5, kCleanups = 10;
// rounds.csv columns
constexpr std::size_t kServerTensorMb = 8, kModelMb = 9;

}  // namespace

TEST_CASE("memory lifecycle: after each round the server holds the global model only, clients nothing") {
  TempDir dir;
  const auto job = simulate(dir, recipe(""));
  for (const auto& round : read_csv(job / "rounds.csv")) {
    CHECK(cell(round, kModelMb) == doctest::Approx(8.0));
    CHECK(cell(round, kServerTensorMb) == doctest::Approx(cell(round, kModelMb)).epsilon(0.001));
  }
  for (const char* client : {"client-1", "client-2"}) CHECK(cell(last_sample(job, client), kTensorMb) < 0.01);
}

TEST_CASE("memory lifecycle: clear_cache = false keeps the last models on the clients") {
  TempDir dir;
  const auto job = simulate(dir, recipe("clear_cache = false"));
  // The synthetic executor updates the received tensors in place: received and sent share
  // one model's storage.
  for (const char* client : {"client-1", "client-2"}) CHECK(cell(last_sample(job, client), kTensorMb) == doctest::Approx(8.0));
}

TEST_CASE("memory lifecycle: cleanups run on the rounds the settings name") {
  TempDir dir;
  // server every 2 rounds over 4 rounds: after rounds 1 and 3; clients every round: 4.
  const auto job = simulate(dir, recipe("server_memory_gc_rounds = 2\nclient_memory_gc_rounds = 1", 4));
  CHECK(cell(last_sample(job, "server"), kCleanups) == 2);
  for (const char* client : {"client-1", "client-2"}) CHECK(cell(last_sample(job, client), kCleanups) == 4);
}

TEST_CASE("memory lifecycle: COHORT_CLIENT_MEMORY_GC_ROUNDS overrides the recipe in client processes") {
  TempDir dir;
  const auto job = simulate(dir, recipe("client_memory_gc_rounds = 0"), {{"COHORT_CLIENT_MEMORY_GC_ROUNDS", "1"}});
  for (const char* client : {"client-1", "client-2"}) CHECK(cell(last_sample(job, client), kCleanups) == 3);
  CHECK(cell(last_sample(job, "server"), kCleanups) == 0);
}
