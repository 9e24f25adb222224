// Secure aggregation end to end, through `cohort simulate`: real server and client
// processes, the synthetic executor (whose updates are known), the recipe's
// [secure_aggregation]: the server's average of masked uploads equals the plain one within
// the quantization, with a site lost after sharing; too few sites fail the job cleanly.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "support/temp_dir.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full_like.h>

#include <doctest/doctest.h>

#include <cmath>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

/// FedAvg over `sites` sites on the synthetic executor (site i returns the global model +
/// 0.1 (i + 1) on every element, after i + 1 steps), with `secure` as its
/// [secure_aggregation] and `more` after it.
std::string recipe(int sites, int rounds, const std::string& fail_sites, const std::string& secure,
                   const std::string& more = "", int min_responses = 0) {
  return "[job]\nname = \"secagg\"\nnum_rounds = " + std::to_string(rounds) + "\nmin_clients = " + std::to_string(sites) +
         "\nseed = 5\n[controller]\nplugin = \"fedavg\"\n[controller.args]\nfinal_validation = false\nmin_responses = " + std::to_string(min_responses) + "\n"
         "[executor]\nplugin = \"synthetic\"\n[executor.args]\ndelta = 0.1\nsteps_by_site = true\nfail_sites = [" + fail_sites + "]\n"
         "[model]\narch = \"synthetic\"\nsize_mb = 0.1\ntensors = 2\ninit = 0.0\n"
         "[simulation]\nclients = " + std::to_string(sites) + "\nworkers = 2\n[secure_aggregation]\n" + secure + more;
}

struct Simulated {
  Finished run;
  fs::path job;
};

Simulated simulate(const TempDir& dir, const std::string& text) {
  write_text(dir / "recipe.toml", text);
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "simulate.out");
  return {result, only_job(dir / "ws")};
}

}  // namespace

TEST_CASE("secure aggregation: 10 sites in groups of 5, one lost after sharing: the average of the others, within the quantization") {
  TempDir dir;
  // site-4 (index 3) fails its training: it shared its secrets, its upload never comes.
  const auto done = simulate(dir, recipe(10, 2, "\"site-4\"", "neighbours = 5\nthreshold = 3\nmax_weight = 10\n", "", 9));
  if (done.run.status != 0) MESSAGE(done.run.output);
  REQUIRE(done.run.status == 0);
  // Each round adds Σ w_i · 0.1 (i + 1) / Σ w_i over the survivors, w_i = (i + 1) / 10.
  double weighted = 0, weights = 0;
  for (int i = 0; i < 10; ++i) {
    if (i == 3) continue;
    weighted += (i + 1) / 10.0 * 0.1 * (i + 1);
    weights += (i + 1) / 10.0;
  }
  const double expected = 2 * weighted / weights;
  const auto model = cohort::load_checkpoint(done.job / "global_model.pt");
  for (const auto& t : model.tensors) CHECK(at::allclose(t.tensor, at::full_like(t.tensor, expected), 0, 1e-4));
  const auto log = read_text(done.job / "logs" / "server.log");
  CHECK(log.find("secure aggregation: 10 sites shared their secrets, groups of 5, threshold 3") != std::string::npos);
  CHECK(log.find("site 'site-4' failed") != std::string::npos);
}

TEST_CASE("secure aggregation: fewer sites than the threshold fail the job, naming the stage, the sites and the threshold") {
  TempDir dir;
  // All four in one group, threshold 4: with site-2 lost after sharing, only 3 survivors hold shares.
  const auto done = simulate(dir, recipe(4, 2, "\"site-2\"", "threshold = 4\n", "", 3));
  CHECK(done.run.status != 0);
  const auto status = cohort::jobs::JobDirectory::at(done.job).read_status();
  REQUIRE(status);
  CHECK(status->state == cohort::jobs::JobState::execution_exception);
  CHECK(status->message.find("secure aggregation, round 1, stage 'unmask'") != std::string::npos);
  CHECK(status->message.find("the threshold is 4") != std::string::npos);
  CHECK(status->message.find("dropped before: site-2") != std::string::npos);
}

TEST_CASE("secure aggregation with central differential privacy: the sites clip, the server noises the unmasked sum") {
  TempDir dir;
  // Each update (+0.1 (i + 1) an element) is clipped to norm 1 at its site; without noise
  // (z = 0) every result weighs 1 and the model moves by exactly 1/√d an element a round.
  const auto done = simulate(dir, recipe(5, 2, "", "threshold = 3\n",
                                         "[privacy]\nmode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 0\n"
                                         "target_delta = 1e-3\n"));
  if (done.run.status != 0) MESSAGE(done.run.output);
  REQUIRE(done.run.status == 0);
  const auto model = cohort::load_checkpoint(done.job / "global_model.pt");
  const double d = static_cast<double>(model.tensors[0].tensor.numel() + model.tensors[1].tensor.numel());
  for (const auto& t : model.tensors) CHECK(at::allclose(t.tensor, at::full_like(t.tensor, 2 / std::sqrt(d)), 0, 1e-5));

  // With z = 1 the server adds N(0, (z·C/m)²) = N(0, 0.2²) to every element of the
  // unmasked average a round: after 2 rounds the elements spread by 0.2·√2.
  TempDir noised_dir;
  const auto noised = simulate(noised_dir, recipe(5, 2, "", "threshold = 3\n",
                                                 "[privacy]\nmode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 1.0\n"
                                                 "target_delta = 1e-3\n"));
  REQUIRE(noised.run.status == 0);
  const auto spread = cohort::load_checkpoint(noised.job / "global_model.pt");
  at::Tensor all = at::cat({spread.tensors[0].tensor.flatten(), spread.tensors[1].tensor.flatten()});
  CHECK(all.std().item<double>() == doctest::Approx(0.2 * std::sqrt(2.0)).epsilon(0.03));
  CHECK(std::abs(all.mean().item<double>() - 2 / std::sqrt(d)) < 5 * 0.2 * std::sqrt(2.0 / d));
}

TEST_CASE("secure aggregation: the shipped Fashion-MNIST recipe (5 sites, 3 rounds) reaches the plain run's accuracy within 0.01") {
  TempDir dir;
  const std::string recipe = (fs::path(COHORT_SOURCE_DIR) / "recipes" / "fedavg_fashion_mnist_secure.toml").string();
  auto final_accuracy = [&](const std::string& name, std::vector<std::string> more) {
    std::vector<std::string> args{"simulate", recipe, "--workspace", (dir / name).string()};
    args.insert(args.end(), more.begin(), more.end());
    const auto done = run(cohort_command(args), dir / (name + ".out"));
    REQUIRE_MESSAGE(done.status == 0, done.output);
    double accuracy = 0;
    for (const auto& row : cohort::jobs::read_metrics(cohort::jobs::JobDirectory::at(only_job(dir / name)).metrics_csv()))
      if (row.site == "global" && row.metrics.count("accuracy")) accuracy = row.metrics.at("accuracy");
    return accuracy;
  };
  const double secure = final_accuracy("secure", {});
  const double plain = final_accuracy("plain", {"--set", "secure_aggregation.enabled=false"});
  MESSAGE("final accuracy: secure " << secure << ", plain " << plain);
  CHECK(plain > 0.8);
  CHECK(std::abs(secure - plain) <= 0.01);
}
