// cohort mpi end to end: real `mpirun` (Open MPI), rank 0 the server, the other ranks the
// sites, the same job folder as `simulate`; faults end the whole job quickly and cleanly.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/csv.hpp"
#include "jobs/job_files.hpp"

#include <cohort/model.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;
namespace jobs = cohort::jobs;

namespace {

/// FedAvg on the synthetic executor: `sites` sites, each adding its number (1-based) times
/// the weight it reports when steps_by_site.
std::string fedavg_recipe(int sites, int rounds, const std::string& executor_args = "") {
  return "[job]\nname = \"mpi-synthetic\"\nnum_rounds = " + std::to_string(rounds) +
         "\nmin_clients = " + std::to_string(sites) +
         "\n[controller]\nplugin = \"fedavg\"\n[controller.args]\nsampling = \"all\"\n"
         "[executor]\nplugin = \"synthetic\"\n[executor.args]\n" + executor_args +
         "\n[model]\narch = \"synthetic\"\nsize_mb = 2.0\ntensors = 3\ninit = 0.0\n"
         "[simulation]\nclients = " + std::to_string(sites) + "\nchunk_kib = 64\n";
}

/// `mpirun -n ranks cohort mpi dir/recipe.toml --workspace dir/ws`, to its end.
std::vector<std::string> mpirun(const fs::path& dir, int ranks, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"mpirun", "--allow-run-as-root", "--oversubscribe", "-n", std::to_string(ranks)};
  std::vector<std::string> args{"mpi", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  for (auto& a : cohort_command(args)) argv.push_back(a);
  return argv;
}

float first_weight(const fs::path& job) {
  return cohort::load_checkpoint(job / "global_model.pt").tensors[0].tensor[0].item<float>();
}

/// The pid a rank's log names ("[rank-2] [PID:TID]"), once it has logged.
int pid_of_rank(const fs::path& workspace, int rank) {
  const std::regex line("\\[rank-" + std::to_string(rank) + "\\] \\[([0-9]+):");
  for (int tries = 0; tries < 600; ++tries) {
    std::ifstream in(workspace / "logs" / ("rank-" + std::to_string(rank) + ".log"));
    std::string text;
    std::smatch m;
    while (std::getline(in, text)) {
      if (std::regex_search(text, m, line)) return std::stoi(m[1]);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

}  // namespace

TEST_CASE("mpi: FedAvg under mpirun -n 3 is the exact weighted average, in simulate's job folder") {
  TempDir dir;
  // Site 1 adds 1 with weight 1, site 2 adds 2 with weight 2: (1 + 4) / 3 a round.
  write_text(dir / "recipe.toml", fedavg_recipe(2, 2, "steps_by_site = true"));
  auto result = run(mpirun(dir, 3), dir / "out");
  INFO(result.output);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  CHECK(first_weight(job) == doctest::Approx(10.0 / 3.0).epsilon(1e-6));
  const auto directory = jobs::JobDirectory::at(job);
  CHECK(directory.read_status()->state == jobs::JobState::completed);
  CHECK(jobs::read_rounds(directory.rounds_csv()).size() == 2);
  for (const char* rank : {"rank-0", "rank-1", "rank-2"}) CHECK(fs::exists(directory.memory_csv(rank)));
  CHECK(fs::exists(job / "recipe.toml"));
  CHECK(result.output.find("summary: job COMPLETED") != std::string::npos);
  CHECK(result.output.find("over Open MPI") != std::string::npos);
}

TEST_CASE("mpi: -n 5 with eight sites hosts two sites per rank") {
  TempDir dir;
  // Sites 1..8 add 1..8 with equal weights: 4.5 a round.
  write_text(dir / "recipe.toml", fedavg_recipe(8, 2));
  auto result = run(mpirun(dir, 5), dir / "out");
  INFO(result.output);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  CHECK(first_weight(job) == 9.0f);
  for (int rank = 1; rank <= 4; ++rank) {
    const std::string log = read_text(dir / "ws" / "logs" / ("rank-" + std::to_string(rank) + ".log"));
    CHECK(log.find("hosts 2 site(s)") != std::string::npos);
  }
  CHECK(read_text(dir / "ws" / "logs" / "rank-4.log").find("site 'site-8'") != std::string::npos);
}

TEST_CASE("mpi: Swarm completes, its models relayed site to site through rank 0") {
  TempDir dir;
  write_text(dir / "recipe.toml",
             "[job]\nname = \"swarm\"\nnum_rounds = 3\nmin_clients = 3\n[controller]\nplugin = \"swarm\"\n"
             "[controller.args]\naggregation_timeout_s = 30\nprogress_timeout_s = 60\nseed = 11\n"
             "[executor]\nplugin = \"synthetic\"\n[model]\narch = \"synthetic\"\nsize_mb = 2.0\ntensors = 4\n"
             "[simulation]\nclients = 3\n");
  auto result = run(mpirun(dir, 4), dir / "out");
  INFO(result.output);
  REQUIRE(result.status == 0);
  // Site i adds i + 1, equal weights: each round adds 2.
  for (const auto& t : cohort::load_checkpoint(only_job(dir / "ws") / "global_model.pt").tensors)
    CHECK(t.tensor[0].item<float>() == 6.0f);
}

TEST_CASE("mpi: a task error on one rank follows the workflow's error policy") {
  TempDir dir;
  std::string recipe = fedavg_recipe(3, 2, "fail_sites = [\"site-3\"]");
  recipe.replace(recipe.find("sampling = \"all\""), 16, "sampling = \"all\"\nmin_responses = 2");
  write_text(dir / "recipe.toml", recipe);
  auto result = run(mpirun(dir, 4), dir / "out");
  INFO(result.output);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  CHECK(first_weight(job) == 3.0f);  // sites 1 and 2: 1.5 a round
  CHECK(jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())[0].failed == 1);
}

TEST_CASE("mpi: a rank killed mid-round ends the job, and mpirun exits non-zero, within 30 s") {
  TempDir dir;
  write_text(dir / "recipe.toml", fedavg_recipe(2, 40, "compute_ms = 500"));
  cohort::process::ChildProcess mpi(mpirun(dir, 3), {}, dir / "out");
  const fs::path rounds = dir / "ws" / "jobs";
  // Once a round is done, kill the second site's rank.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool started = false;
  while (!started && std::chrono::steady_clock::now() < deadline && !mpi.poll()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(rounds, ec))
      started = started || jobs::read_rounds(jobs::JobDirectory::at(e.path()).rounds_csv()).size() >= 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(started);
  const int victim = pid_of_rank(dir / "ws", 2);
  REQUIRE(victim > 0);
  const auto killed = std::chrono::steady_clock::now();
  ::kill(victim, SIGKILL);
  const auto status = mpi.wait_for(std::chrono::seconds(30));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  INFO(read_text(dir / "out"));
  REQUIRE(status);
  CHECK(*status != 0);
  CHECK(seconds < 30);
  MESSAGE("mpirun exited " << *status << " " << seconds << " s after the kill");
  const auto ended = jobs::JobDirectory::at(only_job(dir / "ws")).read_status();
  REQUIRE(ended);
  CHECK(ended->state == jobs::JobState::aborted);
  CHECK(ended->message.find("mpirun ended the job") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(processes_mentioning(dir.path().string()).empty());
}

TEST_CASE("mpi: a bad recipe is reported once, by rank 0, with its place, and every rank exits 2") {
  TempDir dir;
  std::string recipe = fedavg_recipe(2, 2);
  recipe.insert(recipe.find("min_clients"), "num_roundz = 3\n");
  write_text(dir / "recipe.toml", recipe);
  auto result = run(mpirun(dir, 3), dir / "out");
  INFO(result.output);
  CHECK(result.status == 2);
  const std::string expected = (dir / "recipe.toml").string() + ":4:1: unknown key 'num_roundz'";
  const auto at = result.output.find(expected);
  CHECK(at != std::string::npos);
  CHECK(result.output.find(expected, at + 1) == std::string::npos);  // once
  CHECK_FALSE(fs::exists(dir / "ws"));
}

TEST_CASE("mpi: memprofile --transport mpi profiles each rank by role, --compare sets two runs side by side") {
  TempDir dir;
  auto profile = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"memprofile", "--transport", "mpi", "-n", "2", "--num-rounds", "2", "--model-size",
                                  "5", "--gc-rounds", "0,1", "--output", (dir / "profiles").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = run(cohort_command(args), dir / "memprofile.out");
    INFO(result.output);
    REQUIRE(result.status == 0);
    CHECK(result.output.find("under MPI (rank 0 the server)") != std::string::npos);
    CHECK(result.output.find("SUMMARY (server)") != std::string::npos);
  };
  profile({});
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a second timestamped folder
  profile({"--mmap-threshold", "0"});
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir / "profiles")) runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  REQUIRE(runs.size() == 2);
  for (const auto& run_dir : runs) {
    CHECK(fs::exists(run_dir / "rss.png"));
    CHECK(fs::exists(run_dir / "report.html"));
    for (const char* setting : {"gc0", "gc1"}) {
      const auto job = jobs::JobDirectory::only_job(run_dir / setting / "ws");
      for (const char* rank : {"rank-0", "rank-1", "rank-2"}) CHECK(fs::exists(job.memory_csv(rank)));
    }
  }
  const std::string summary = read_text(runs[0] / "summary.csv");
  CHECK(summary.find("rank-0,server") != std::string::npos);
  CHECK(summary.find("rank-2,client") != std::string::npos);

  auto compared = run(cohort_command({"memprofile", "--compare", runs[0].string(), runs[1].string(), "--output",
                                      (dir / "compared").string()}),
                      dir / "compare.out");
  INFO(compared.output);
  REQUIRE(compared.status == 0);
  const auto table = cohort::jobs::CsvTable::read(dir / "compared" / "compare.csv");
  CHECK(table.rows().size() == 6);  // 2 settings x 3 ranks
  for (const auto& row : table.rows()) {
    const double a = *row.number("final_a_mb"), b = *row.number("final_b_mb");
    CHECK(row.text("final_change_percent") == cohort::jobs::fixed(100.0 * (b - a) / a, 1) + " %");
  }
}
