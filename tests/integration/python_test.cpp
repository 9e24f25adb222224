// Python training scripts as sites, through `cohort simulate`: real server and client
// processes, real Python (Debian's python3-torch), the script of tests/fixtures/python.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "privacy/accountant.hpp"
#include "support/temp_dir.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full_like.h>

#include <doctest/doctest.h>


using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

const fs::path kScript = fs::path(COHORT_SOURCE_DIR) / "tests/fixtures/python/scripted_site.py";

// Two sites, a small synthetic model of 0.5s; the script's mode and the workflow vary.
std::string recipe(const std::string& controller, const std::string& controller_args, const std::string& mode,
                   const std::string& executor_args = "") {
  return "[job]\nname = \"python-" + mode + "\"\nnum_rounds = 2\nmin_clients = 2\n"
         "[controller]\nplugin = \"" + controller + "\"\n[controller.args]\n" + controller_args +
         "\n[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"" + kScript.string() + "\"\nargs = [\"" +
         mode + "\"]\n" + executor_args +
         "\n[model]\narch = \"synthetic\"\nsize_mb = 0.01\ntensors = 2\ninit = 0.5\n"
         "[simulation]\nclients = 2\nworkers = 2\n";
}

struct Simulated {
  Finished run;
  fs::path job;
};

Simulated simulate(const TempDir& dir, const std::string& name, const std::string& text) {
  write_text(dir / (name + ".toml"), text);
  auto result = run(cohort_command({"simulate", (dir / (name + ".toml")).string(), "--workspace", (dir / name).string()}),
                    dir / (name + ".out"));
  if (result.status != 0) MESSAGE(result.output);
  return {result, only_job(dir / name)};
}

void check_global(const fs::path& job, float expected) {
  auto model = cohort::load_checkpoint(job / "global_model.pt");
  REQUIRE(model.tensors.size() == 2);
  for (const auto& t : model.tensors) CHECK(at::allclose(t.tensor, at::full_like(t.tensor, expected)));
}

}  // namespace

TEST_CASE("python: FedAvg's aggregate of scripts' FULL and DIFF results is exact") {
  TempDir dir;
  // Site i adds i + 1 with num_steps 10 (i + 1): each round adds (10 * 1 + 20 * 2) / 30.
  const float expected = 0.5f + 2 * (50.0f / 30.0f);
  for (const std::string mode : {"full", "in-place", "diff"}) {
    CAPTURE(mode);
    auto done = simulate(dir, mode, recipe("fedavg", "", mode));
    REQUIRE(done.run.status == 0);
    check_global(done.job, expected);
    // The scripts' memory shows in their client processes' samples.
    double children = 0;
    for (const auto& row : cohort::jobs::read_memory(done.job / "memory" / "client-1.csv")) {
      children = std::max(children, row.children_rss_mb);
    }
    CHECK(children > 50);  // Python with torch imported
  }
}

TEST_CASE("python: the same script under cyclic and swarm") {
  TempDir dir;
  // Cyclic: the model visits site-1 (+1) then site-2 (+2) in each round.
  auto cyclic = simulate(dir, "cyclic", recipe("cyclic", "order = \"fixed\"\nfinal_validation = false", "in-place"));
  REQUIRE(cyclic.run.status == 0);
  check_global(cyclic.job, 0.5f + 2 * 3.0f);
  // Swarm: models reach the sites relayed by other sites, not from the server's broadcast.
  auto swarm = simulate(dir, "swarm", recipe("swarm", "aggregation_timeout_s = 30\nprogress_timeout_s = 60\nseed = 3", "full"));
  REQUIRE(swarm.run.status == 0);
  CHECK(read_text(swarm.job / "status.txt").find("COMPLETED") != std::string::npos);
}

TEST_CASE("python: a script that raises, through the default workers = auto, fails with its traceback") {
  TempDir dir;
  std::string text = recipe("fedavg", "", "raise");
  text.replace(text.find("workers = 2"), 11, "workers = \"auto\"");
  write_text(dir / "raise.toml", text);
  auto result = run(cohort_command({"simulate", (dir / "raise.toml").string(), "--workspace", (dir / "raise").string()}),
                    dir / "raise.out");
  INFO(result.output);
  CHECK(result.status == 1);  // a task failure, not a signal
  CHECK(result.output.find("the probe of one site's task failed (status 1)") != std::string::npos);
  for (const char* said : {"site 'site-1'", "scripted_site.py", "line 31", "RuntimeError: the training diverged"})
    CHECK(result.output.find(said) != std::string::npos);
}

TEST_CASE("python: a script that hangs is stopped at task_timeout_s and the job completes with the other site") {
  TempDir dir;
  auto done = simulate(dir, "hang", recipe("fedavg", "min_responses = 1\ntask_timeout_s = 60", "hang-on-site-2",
                                           "task_timeout_s = 2"));
  REQUIRE(done.run.status == 0);
  check_global(done.job, 0.5f + 2 * 1.0f);  // site-1's update only, in both rounds
  const auto log = read_text(done.job / "logs" / "client-2.log");
  CHECK(log.find("sent no result within task_timeout_s = 2 s; it was stopped") != std::string::npos);
}

TEST_CASE("python: the shipped Fashion-MNIST script reaches the C++ trainer's accuracy") {
  TempDir dir;
  auto result = run(cohort_command({"simulate", (fs::path(COHORT_SOURCE_DIR) / "recipes/fedavg_fashion_mnist_python.toml").string(),
                                    "--workspace", (dir / "ws").string()}),
                    dir / "out.txt");
  REQUIRE_MESSAGE(result.status == 0, result.output);
  // workers = auto: the probe saw the script that each site keeps (launched once).
  CHECK(result.output.find("MiB until the job ends (processes its task left running") != std::string::npos);
  double accuracy = 0;
  const auto job = cohort::jobs::JobDirectory::at(only_job(dir / "ws"));
  for (const auto& row : cohort::jobs::read_metrics(job.metrics_csv())) {
    if (row.site == "global" && row.metrics.count("accuracy")) accuracy = row.metrics.at("accuracy");
  }
  MESSAGE("the Python recipe's accuracy after 3 rounds: " << accuracy);
  CHECK(accuracy >= 0.80);
}

TEST_CASE("python: local DP: each script's update is clipped and noised at its site before it leaves") {
  TempDir dir;
  // Each site adds i + 1 to every element (norm ≫ 1): clipped to norm 1, then N(0, 1) noise
  // (z = 1, C = 1) on every element at the site. The average (weights 1/3, 2/3) spreads by
  // √(1/9 + 4/9) a round; ε is the Gaussian mechanism's, for the rounds each site took part in.
  const auto done = simulate(dir, "local-dp",
                             recipe("fedavg", "final_validation = false", "full") +
                                 "[privacy]\nmode = \"local\"\nclipping_norm = 1.0\nnoise_multiplier = 1.0\n"
                                 "target_delta = 1e-3\nseed = 11\n");
  REQUIRE(done.run.status == 0);
  const auto model = cohort::load_checkpoint(done.job / "global_model.pt");
  at::Tensor all = at::cat({model.tensors[0].tensor.flatten(), model.tensors[1].tensor.flatten()});
  CHECK(all.std().item<double>() == doctest::Approx(std::sqrt(2 * 5.0 / 9)).epsilon(0.05));
  CHECK(std::abs(all.mean().item<double>() - 0.5) < 0.1);
  const auto rounds = cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(done.job).rounds_csv());
  REQUIRE(rounds.size() == 2);
  CHECK(*rounds[1].epsilon == cohort::privacy::RdpAccountant().after(1.0, 1.0, 2).epsilon(1e-3));
  CHECK(read_text(done.job / "logs" / "server.log").find("privacy: local DP") != std::string::npos);
}

TEST_CASE("python: secure aggregation masks each script's update in its client process, and the average is FedAvg's") {
  TempDir dir;
  // Three sites; site i adds i + 1 with num_steps 10 (i + 1): each round adds
  // (10 · 1 + 20 · 2 + 30 · 3) / 60, here through masked uploads (weights up to max_weight 30).
  std::string text = recipe("fedavg", "final_validation = false", "full") + "[secure_aggregation]\nthreshold = 2\nmax_weight = 30\n";
  text.replace(text.find("min_clients = 2"), 15, "min_clients = 3");
  text.replace(text.find("clients = 2\nworkers"), 11, "clients = 3");
  const auto done = simulate(dir, "secure", text);
  REQUIRE(done.run.status == 0);
  check_global(done.job, 0.5f + 2 * (140.0f / 60.0f));
  CHECK(read_text(done.job / "logs" / "server.log").find("secure aggregation: 3 sites shared their secrets") != std::string::npos);
}
