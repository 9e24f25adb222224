// Swarm on the synthetic executor: the per-round aggregator choice, the exact aggregate,
// a trainer killed mid-round, and memory cleanups on trainer and aggregator roles.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/local_project.hpp"
#include "swarm.hpp"

#include <cohort/model.hpp>

#include <doctest/doctest.h>

using namespace cohort::test;
using cohort::process::ChildProcess;

namespace {

std::string recipe(const std::string& args, int min_clients = 3, const std::string& memory = "") {
  return "[job]\nname = \"swarm\"\nnum_rounds = 3\nmin_clients = " + std::to_string(min_clients) +
         "\n[controller]\nplugin = \"swarm\"\n[controller.args]\naggregation_timeout_s = 30\n"
         "max_status_report_interval_s = 20\nprogress_timeout_s = 60\nseed = 11\n" + args +
         "\n[executor]\nplugin = \"synthetic\"\n[model]\narch = \"synthetic\"\nsize_mb = 4.0\ntensors = 4\n"
         "[memory]\nmonitor_interval_ms = 200\n" + memory + "\n[simulation]\nclients = 3\nworkers = 3\n";
}

}  // namespace

TEST_CASE("swarm: each round's aggregator is drawn by the previous one, and the aggregate is exact") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe(""));
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "out");
  if (result.status != 0) MESSAGE(result.output);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  // Every site replies every round, so each round is drawn among all three.
  std::vector<std::string> aggregators;
  for (const auto& row : cohort::jobs::read_metrics(cohort::jobs::JobDirectory::at(job).metrics_csv())) {
    if (row.site != "global") aggregators.push_back(row.site);
  }
  const std::vector<std::string> all{"site-1", "site-2", "site-3"};
  REQUIRE(aggregators.size() == 3);
  for (int round = 0; round < 3; ++round) CHECK(aggregators[round] == cohort::swarm::choose_aggregator(all, 11, round));
  // Site i adds i + 1, equal weights: each round adds 2.
  auto model = cohort::load_checkpoint(job / "global_model.pt");
  for (const auto& t : model.tensors) CHECK(t.tensor[0].item<float>() == 6.0f);
  CHECK(std::filesystem::exists(job / "best_model.pt"));
  // memory_gc_rounds = 1 (Swarm's default) on both roles: 3 trainer rounds per site, one
  // aggregation per round and the final validation on each site, each followed by a cleanup.
  double cleanups = 0;
  for (const char* client : {"client-1", "client-2", "client-3"}) {
    auto rows = cohort::jobs::read_memory(cohort::jobs::JobDirectory::at(job).memory_csv(client));
    cleanups += static_cast<double>(rows.back().cleanups);
  }
  CHECK(cleanups == 3 * 3 + 3 + 3);
}

TEST_CASE("swarm: with memory_gc_rounds = 0 no site cleans up") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe("", 3, "memory_gc_rounds = 0"));
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "out");
  REQUIRE(result.status == 0);
  for (const char* client : {"client-1", "client-2", "client-3"}) {
    auto rows = cohort::jobs::read_memory(cohort::jobs::JobDirectory::at(only_job(dir / "ws")).memory_csv(client));
    CHECK(rows.back().cleanups == 0);
  }
}

TEST_CASE("swarm: a trainer killed mid-round is left out, and the job goes on") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe("first_aggregator = \"site-1\"\naggregators = [\"site-1\", \"site-2\"]", 2));
  // site-3 dies after the first chunk (tensor layer0, 1 MiB) of its first result.
  REQUIRE(run_local_job(dir, 3, 3, 4096).server_status == 0);
  auto model = cohort::load_checkpoint(only_job(dir / "ws") / "global_model.pt");
  // Round 0: layer0 has all three (+2), the other tensors sites 1 and 2 (+1.5); rounds 1
  // and 2: sites 1 and 2 only (+1.5 each).
  CHECK(model.tensors[0].tensor[0].item<float>() == 5.0f);
  for (int i = 1; i < 4; ++i) CHECK(model.tensors[i].tensor[0].item<float>() == 4.5f);
}
