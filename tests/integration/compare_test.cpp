// cohort compare end to end: methods run one after another in their own process trees;
// the table, CSV, plots and page; Ctrl-C; bad overrides refused before anything runs.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "config/recipe_file.hpp"
#include "jobs/csv.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;
namespace jobs = cohort::jobs;

namespace {

// A quick real training: an MLP on a few hundred Fashion-MNIST samples per site.
const std::string kTrainingRecipe = R"(
[job]
name = "small"
num_rounds = 2
min_clients = 2
[controller]
plugin = "fedavg"
[executor]
plugin = "torch-trainer"
[executor.args]
max_train_samples = 200
max_test_samples = 200
[model]
arch = "mlp"
hidden = 16
[simulation]
clients = 2
workers = 2
insecure = true
)";

fs::path only_folder(const fs::path& parent) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(parent)) found.push_back(e.path());
  REQUIRE(found.size() == 1);
  return found.front();
}

/// The global accuracy after the last round, from a run's own metrics.csv.
double final_accuracy(const fs::path& run) {
  double value = -1;
  std::int64_t last = -1;
  for (const auto& m : jobs::read_metrics(jobs::JobDirectory::only_job(run).metrics_csv()))
    if (m.site == "global" && m.metrics.count("accuracy") && m.round >= last) {
      last = m.round;
      value = m.metrics.at("accuracy");
    }
  return value;
}

}  // namespace

TEST_CASE("compare: two methods, two repeats: table, CSV, plots and page, the means are the runs' own") {
  TempDir dir;
  write_text(dir / "small.toml", kTrainingRecipe);
  auto result = run(cohort_command({"compare", (dir / "small.toml").string(), "--name", "fedavg",
                                    (dir / "small.toml").string(), "--set", "controller.plugin=fedopt", "--set",
                                    "controller.args.optimizer=adam", "--repeats", "2", "--target", "0.3", "--output",
                                    (dir / "out").string()}),
                    dir / "compare.out");
  INFO(result.output);
  REQUIRE(result.status == 0);
  const fs::path out = only_folder(dir / "out");
  for (const char* file : {"compare.csv", "summary.csv", "accuracy.png", "rss.png", "report.html"})
    CHECK(fs::file_size(out / file) > 0);
  // Real PNGs.
  std::ifstream png(out / "accuracy.png", std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  CHECK(std::string(magic + 1, 3) == "PNG");

  const auto runs = jobs::CsvTable::read(out / "compare.csv");
  REQUIRE(runs.rows().size() == 4);
  const std::string second = "small,plugin=fedopt,optimizer=adam";
  std::map<std::string, std::vector<double>> by_method;
  std::map<std::string, std::vector<std::string>> seeds;
  for (const auto& row : runs.rows()) {
    CHECK(row.text("status") == "COMPLETED");
    CHECK(row.text("rounds") == "2");
    const fs::path run_dir = out / "runs" / (row.text("method") == "fedavg" ? "fedavg" : "small_plugin=fedopt_optimizer=adam") /
                             ("repeat-" + row.text("repeat"));
    const double own = final_accuracy(run_dir);
    CHECK(*row.number("final_accuracy") == doctest::Approx(own).epsilon(1e-3));
    by_method[row.text("method")].push_back(own);
    seeds[row.text("method")].push_back(row.text("seed"));
    CHECK(*row.number("server_peak_rss_mb") > 50);
  }
  CHECK((seeds["fedavg"] == std::vector<std::string>{"0", "1"}));
  // The second method really ran FedOpt with Adam: its job's recipe says so.
  const auto ran = cohort::config::read_recipe_file(
      jobs::JobDirectory::only_job(out / "runs" / "small_plugin=fedopt_optimizer=adam" / "repeat-2").recipe());
  CHECK(ran.controller.plugin == "fedopt");
  CHECK(ran.controller.args.get<std::string>("optimizer", "") == "adam");
  CHECK(ran.job.seed == 1);

  const auto summary = jobs::CsvTable::read(out / "summary.csv");
  REQUIRE(summary.rows().size() == 2);
  for (const auto& row : summary.rows()) {
    const auto& own = by_method.at(row.text("method"));
    CHECK(row.text("completed") == "2");
    CHECK(*row.number("final_accuracy_mean") == doctest::Approx((own[0] + own[1]) / 2).epsilon(1e-3));
  }
  CHECK(result.output.find("fedavg") != std::string::npos);
  CHECK(result.output.find(second) != std::string::npos);
  CHECK(read_text(out / "report.html").find("accuracy.png") != std::string::npos);
}

TEST_CASE("compare: a bad override is refused with the argument named, before anything runs") {
  TempDir dir;
  write_text(dir / "small.toml", kTrainingRecipe);
  auto unknown = run(cohort_command({"compare", (dir / "small.toml").string(), "--set", "controller.args.min_responsess=1",
                                     "--output", (dir / "out").string()}),
                     dir / "unknown.out");
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("--set controller.args.min_responsess=1: unknown key 'min_responsess' in "
                            "[controller.args]; did you mean 'min_responses'?") != std::string::npos);
  auto wrong_type = run(cohort_command({"compare", (dir / "small.toml").string(), "--set", "job.num_rounds=many",
                                        "--output", (dir / "out").string()}),
                        dir / "type.out");
  CHECK(wrong_type.status == 2);
  CHECK(wrong_type.output.find("--set job.num_rounds=many: job.num_rounds: ") != std::string::npos);
  // The file's own mistakes still name the file, line and column.
  write_text(dir / "bad.toml", kTrainingRecipe + "[executor.args]\n");
  auto in_file = run(cohort_command({"compare", (dir / "small.toml").string(), (dir / "bad.toml").string(), "--output",
                                     (dir / "out").string()}),
                     dir / "file.out");
  CHECK(in_file.status == 2);
  CHECK(in_file.output.find((dir / "bad.toml").string() + ":20:") != std::string::npos);
  CHECK(in_file.output.find("TOML syntax error") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out"));  // nothing ran
}

TEST_CASE("compare: Ctrl-C stops the current run cleanly, leaves no process behind and a partial table") {
  TempDir dir;
  write_text(dir / "small.toml", kTrainingRecipe);
  // The second method is slow: 30 rounds of 1 s each.
  write_text(dir / "slow.toml", R"(
[job]
name = "slow"
num_rounds = 30
min_clients = 2
[controller]
plugin = "fedavg"
[executor]
plugin = "synthetic"
[executor.args]
compute_ms = 1000
[model]
arch = "synthetic"
size_mb = 1
[simulation]
clients = 2
workers = 2
insecure = true
)");
  cohort::process::ChildProcess compare(
      cohort_command({"compare", (dir / "small.toml").string(), (dir / "slow.toml").string(), "--output",
                      (dir / "out").string()}),
      {}, dir / "compare.out");
  // Wait until the slow run has done a round.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool slow_running = false;
  while (!slow_running && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    try {
      const fs::path runs = only_folder(dir / "out") / "runs" / "slow" / "repeat-1";
      slow_running = !jobs::read_rounds(jobs::JobDirectory::only_job(runs).rounds_csv()).empty();
    } catch (const std::exception&) {
    }
    REQUIRE_FALSE(compare.poll());
  }
  REQUIRE(slow_running);
  CHECK_FALSE(processes_mentioning((dir / "out").string()).empty());
  compare.signal(SIGINT);
  const auto status = compare.wait_for(std::chrono::seconds(60));
  INFO(read_text(dir / "compare.out"));
  REQUIRE(status);
  CHECK(*status == 130);
  CHECK(processes_mentioning((dir / "out").string()).empty());
  const fs::path out = only_folder(dir / "out");
  const auto runs = jobs::CsvTable::read(out / "compare.csv");
  REQUIRE(runs.rows().size() == 2);
  CHECK(runs.rows()[0].text("status") == "COMPLETED");
  CHECK(runs.rows()[1].text("status") == "INTERRUPTED");
  CHECK(jobs::CsvTable::read(out / "summary.csv").rows().size() == 2);
  CHECK(read_text(out / "report.html").find("Interrupted") != std::string::npos);
  CHECK(read_text(dir / "compare.out").find("interrupted: the runs that finished") != std::string::npos);
}
