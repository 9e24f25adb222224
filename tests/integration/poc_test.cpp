// `cohort poc`: prepare, start, a job through the admin kit's admin.sh, stop, clean; a
// job that carries its Python script to the clients, and a client that refuses code.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "jobs/csv.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/allclose.h>
#include <ATen/ops/full_like.h>

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <numeric>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

/// Runs `cohort ARGS`, which must succeed (its output in DIR/NAME.out).
void step(const TempDir& dir, const std::vector<std::string>& args, const std::string& name) {
  auto result = run(cohort_command(args), dir / (name + ".out"));
  INFO(name << ": " << result.output);
  REQUIRE(result.status == 0);
}

/// The job id `admin.sh submit` printed: its last line.
std::string job_id_of(const std::string& output) {
  const auto last_line = output.find_last_of('\n', output.size() - 2);
  return output.substr(last_line == std::string::npos ? 0 : last_line + 1, 36);
}

/// Submits `recipe` with the POC's admin kit, retrying until the server listens; the job id.
std::string submit(const TempDir& dir, const std::string& ws, const fs::path& recipe) {
  const std::string admin = (fs::path(ws) / "admin@poc.local" / "startup" / "admin.sh").string();
  Finished submitted;
  for (int i = 0; i < 100; ++i) {
    submitted = run({"bash", admin, "submit", recipe.string()}, dir / ("submit-" + std::to_string(i) + ".out"));
    if (submitted.status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(submitted.output);
  REQUIRE(submitted.status == 0);
  return job_id_of(submitted.output);
}

Finished wait(const TempDir& dir, const std::string& ws, const std::string& id) {
  const std::string admin = (fs::path(ws) / "admin@poc.local" / "startup" / "admin.sh").string();
  return run({"bash", admin, "wait", id, "--timeout", "120"}, dir / ("wait-" + id + ".out"));
}

struct Stop {
  std::string ws;
  TempDir& dir;
  ~Stop() { run(cohort_command({"poc", "stop", "--workspace", ws}), dir / "stop-guard.out"); }
};

}  // namespace

TEST_CASE("poc: prepare, start, run a job as the POC admin, stop, clean") {
  TempDir dir;
  const std::string ws = (dir / "poc").string();
  step(dir, {"poc", "prepare", "-n", "2", "--workspace", ws}, "prepare");
  for (const char* p : {"server", "site-1", "site-2", "admin@poc.local"})
    CHECK(fs::exists(fs::path(ws) / p / "startup" / "signature.txt"));
  // Preparing over an existing POC needs --force.
  CHECK(run(cohort_command({"poc", "prepare", "--workspace", ws}), dir / "again.out").status != 0);

  Stop guard{ws, dir};
  step(dir, {"poc", "start", "--workspace", ws}, "start");

  // `poc start` returned once everything is up: the admin commands work at once, no retry.
  const std::string admin = (fs::path(ws) / "admin@poc.local" / "startup" / "admin.sh").string();
  const auto status = run({"bash", admin, "status"}, dir / "status.out");
  INFO(status.output);
  REQUIRE(status.status == 0);
  CHECK(status.output.find("sites    site-1, site-2") != std::string::npos);
  write_text(dir / "job.toml",
             "[job]\nname = \"poc\"\nnum_rounds = 2\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n"
             "[executor]\nplugin = \"synthetic\"\n[model]\narch = \"synthetic\"\nsize_mb = 1\n");
  const auto submitted = run({"bash", admin, "submit", (dir / "job.toml").string()}, dir / "submit-at-once.out");
  INFO(submitted.output);
  REQUIRE(submitted.status == 0);
  const auto waited = wait(dir, ws, job_id_of(submitted.output));
  INFO(waited.output);
  CHECK(waited.status == 0);

  step(dir, {"poc", "stop", "--workspace", ws}, "stop");
  CHECK_FALSE(fs::exists(fs::path(ws) / "server" / "watchdog.pid"));
  step(dir, {"poc", "clean", "--workspace", ws}, "clean");
  CHECK_FALSE(fs::exists(ws));
}

TEST_CASE("poc: a job carries its Python script to the clients and a client that refuses code fails it") {
  TempDir dir;
  const std::string ws = (dir / "poc").string();
  // The recipe names its script by a path relative to itself; the script imports a module
  // from a package beside it (an empty __init__.py among them).
  write_text(dir / "code" / "train.py",
             "import cohort\nfrom helpers.shift import shift\ncohort.init()\nwhile cohort.is_running():\n"
             "    model = cohort.receive()\n"
             "    params = {n: t + shift(cohort.site_index) for n, t in model.params.items()}\n"
             "    cohort.send(cohort.Model(params=params, num_steps=1))\n");
  write_text(dir / "code" / "helpers" / "__init__.py", "");
  write_text(dir / "code" / "helpers" / "shift.py", "def shift(site_index):\n    return float(site_index + 1)\n");
  write_text(dir / "jobs" / "python.toml",
             "[job]\nname = \"poc-python\"\nnum_rounds = 2\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n"
             "[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"../code/train.py\"\n"
             "[model]\narch = \"synthetic\"\nsize_mb = 0.01\ntensors = 2\ninit = 0.5\n");

  step(dir, {"poc", "prepare", "-n", "2", "--workspace", ws}, "prepare");
  {
    Stop guard{ws, dir};
    step(dir, {"poc", "start", "--workspace", ws}, "start");
    const auto id = submit(dir, ws, dir / "jobs" / "python.toml");
    const auto waited = wait(dir, ws, id);
    INFO(waited.output);
    REQUIRE(waited.status == 0);
    // Each site ran the script from its own copy of the job's files.
    for (const char* site : {"site-1", "site-2"}) {
      CHECK(fs::exists(fs::path(ws) / site / "jobs" / id / "app" / "code" / "train.py"));
      CHECK(fs::exists(fs::path(ws) / site / "jobs" / id / "app" / "code" / "helpers" / "__init__.py"));
    }
    // Sites add 1 and 2 with equal weight: each round adds 1.5.
    auto model = cohort::load_checkpoint(fs::path(ws) / "server" / "jobs" / id / "global_model.pt");
    REQUIRE(model.tensors.size() == 2);
    for (const auto& t : model.tensors) CHECK(at::allclose(t.tensor, at::full_like(t.tensor, 3.5f)));
    step(dir, {"poc", "stop", "--workspace", ws}, "stop");
  }

  // site-2's kit refuses code: the project admin says so in the project file and provisions
  // again (keys kept); the job fails with that reason.
  std::string project = read_text(fs::path(ws) / "project.toml");
  const std::string site2 = "name = \"site-2\"\n";
  project.insert(project.find(site2) + site2.size(), "accept_job_code = false\n");
  write_text(fs::path(ws) / "project.toml", project);
  step(dir, {"provision", (fs::path(ws) / "project.toml").string(), "-o", ws}, "provision");
  Stop guard{ws, dir};
  step(dir, {"poc", "start", "--workspace", ws}, "restart");
  const auto waited = wait(dir, ws, submit(dir, ws, dir / "jobs" / "python.toml"));
  INFO(waited.output);
  CHECK(waited.status != 0);
  CHECK(waited.output.find("EXECUTION_EXCEPTION") != std::string::npos);
  CHECK(waited.output.find("site-2: cannot run job") != std::string::npos);
  CHECK(waited.output.find("does not run jobs that carry code (its kit sets accept_job_code = false)") !=
        std::string::npos);
}

TEST_CASE("poc: a job of 20 rounds completes with every round and its metrics while its server is killed twice") {
  TempDir dir;
  const std::string ws = (dir / "poc").string();
  step(dir, {"poc", "prepare", "-n", "2", "--workspace", ws}, "prepare");
  Stop guard{ws, dir};
  step(dir, {"poc", "start", "--workspace", ws}, "start");
  write_text(dir / "job.toml",
             "[job]\nname = \"poc\"\nnum_rounds = 20\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n"
             "[executor]\nplugin = \"synthetic\"\n[executor.args]\ncompute_ms = 300\n"
             "[model]\narch = \"synthetic\"\nsize_mb = 1\n");
  const auto id = submit(dir, ws, dir / "job.toml");
  const fs::path job = fs::path(ws) / "server" / "jobs" / id;
  const auto rounds = [&] { return static_cast<int>(cohort::jobs::CsvTable::read(job / "rounds.csv").rows().size()); };
  const auto server_pid = [&] {
    std::ifstream in(fs::path(ws) / "server" / "process.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  };
  for (const int kill_after : {6, 13}) {
    for (int i = 0; i < 1200 && rounds() < kill_after; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(rounds() >= kill_after);
    const pid_t before = server_pid();
    REQUIRE(::kill(before, SIGKILL) == 0);
    for (int i = 0; i < 300 && (server_pid() == before || ::kill(server_pid(), 0) != 0); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(server_pid() != before);
  }
  const auto waited = wait(dir, ws, id);
  INFO(waited.output);
  REQUIRE(waited.status == 0);
  CHECK(waited.output.find("COMPLETED, round 20 of 20") != std::string::npos);

  // Every round once in rounds.csv; each site's metrics and the global model's for each.
  std::vector<int> seen;
  for (const auto& row : cohort::jobs::CsvTable::read(job / "rounds.csv").rows())
    seen.push_back(std::stoi(row.text("round")));
  std::vector<int> all(20);
  std::iota(all.begin(), all.end(), 0);
  CHECK(seen == all);
  std::map<std::string, std::vector<int>> metrics;
  for (const auto& row : cohort::jobs::CsvTable::read(job / "metrics.csv").rows())
    metrics[row.text("site")].push_back(std::stoi(row.text("round")));
  for (const char* site : {"site-1", "site-2", "global"}) CHECK_MESSAGE(metrics[site] == all, site);
  const auto shown = run({"bash", (fs::path(ws) / "admin@poc.local" / "startup" / "admin.sh").string(), "show", id},
                         dir / "show.out");
  CHECK(shown.output.find("resumed    2 times") != std::string::npos);
}
