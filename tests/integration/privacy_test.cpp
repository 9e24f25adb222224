// Differential privacy end to end, through `cohort simulate`: real server and client
// processes, the synthetic executor (whose updates are known), the recipe's [privacy].
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

#include <cmath>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

/// FedAvg over `sites` sites, `per_round` sampled a round, on the synthetic executor (site
/// i returns the global model + i + 1, every element), with `privacy` as its [privacy].
std::string recipe(int sites, int per_round, int rounds, double size_mb, const std::string& privacy) {
  return "[job]\nname = \"dp\"\nnum_rounds = " + std::to_string(rounds) + "\nmin_clients = " + std::to_string(per_round) +
         "\nseed = 5\n[controller]\nplugin = \"fedavg\"\n[controller.args]\nfinal_validation = false\n"
         "[executor]\nplugin = \"synthetic\"\n[executor.args]\nsteps_by_site = true\n"
         "[model]\narch = \"synthetic\"\nsize_mb = " + std::to_string(size_mb) + "\ntensors = 2\ninit = 0.0\n"
         "[simulation]\nclients = " + std::to_string(sites) + "\nworkers = 2\nchunk_kib = 256\n[privacy]\n" + privacy;
}

struct Simulated {
  Finished run;
  fs::path job;
  std::vector<cohort::jobs::RoundRow> rounds;
};

Simulated simulate(const TempDir& dir, const std::string& text) {
  write_text(dir / "recipe.toml", text);
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "simulate.out");
  if (result.status != 0) MESSAGE(result.output);
  const auto job = only_job(dir / "ws");
  return {result, job, cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(job).rounds_csv())};
}

/// ε after each of `rounds` steps of (q, z), summed step by step as the server does.
std::vector<double> expected_epsilon(double q, double z, int rounds, double delta) {
  std::vector<double> out;
  cohort::privacy::RdpAccountant account;
  for (int r = 0; r < rounds; ++r) {
    account.add(q, z);
    out.push_back(account.epsilon(delta));
  }
  return out;
}

}  // namespace

TEST_CASE("privacy: a central-DP FedAvg job (20 sites, 5 a round) reports after each round the ε of the accountant") {
  TempDir dir;
  const auto done = simulate(dir, recipe(20, 5, 3, 0.1,
                                         "mode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 1.1\n"
                                         "target_delta = 1e-5\n"));
  REQUIRE(done.run.status == 0);
  REQUIRE(done.rounds.size() == 3);
  const auto expected = expected_epsilon(5.0 / 20, 1.1, 3, 1e-5);
  for (std::size_t r = 0; r < 3; ++r) {
    REQUIRE(done.rounds[r].epsilon);
    CHECK(*done.rounds[r].epsilon == expected[r]);  // bit for bit: rounds.csv keeps 17 digits
  }
  CHECK(done.run.output.find("privacy spent: ε = ") != std::string::npos);
  // Said before it runs, with the noise per element.
  CHECK(done.run.output.find("warning: [privacy] central noise with 5 sites a round: each element of the average gets "
                             "noise of standard deviation z·C/5 = 0.22") != std::string::npos);
  // Each site's update (+1 .. +20 on every element) is clipped to norm 1 at the site; the
  // server adds N(0, (z·C/m)²) = N(0, 0.22²) per round: after 3 rounds the elements spread
  // with standard deviation 0.22·√3 around 3 / √d.
  const auto model = cohort::load_checkpoint(done.job / "global_model.pt");
  at::Tensor all = at::cat({model.tensors[0].tensor.flatten(), model.tensors[1].tensor.flatten()});
  const double d = static_cast<double>(all.numel());
  CHECK(all.std().item<double>() == doctest::Approx(0.22 * std::sqrt(3.0)).epsilon(0.03));
  CHECK(std::abs(all.mean().item<double>() - 3 / std::sqrt(d)) < 5 * 0.22 * std::sqrt(3.0 / d));
  const auto log = read_text(done.job / "logs" / "server.log");
  CHECK(log.find("privacy: central noise with 5 sites a round") != std::string::npos);  // the small-m warning
}

TEST_CASE("privacy: a job stops COMPLETED before the round that would pass target_epsilon, saying so") {
  TempDir dir;
  // q = 0.25, z = 1.1, δ = 1e-5: ε = 2.65, 3.30, 3.77 after rounds 1, 2, 3; the budget is 3.5.
  const auto done = simulate(dir, recipe(20, 5, 6, 0.1,
                                         "mode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 1.1\n"
                                         "target_epsilon = 3.5\ntarget_delta = 1e-5\n"));
  REQUIRE(done.run.status == 0);
  CHECK(done.rounds.size() == 2);
  const auto status = cohort::jobs::JobDirectory::at(done.job).read_status();
  REQUIRE(status);
  CHECK(status->state == cohort::jobs::JobState::completed);
  CHECK(status->message.find("privacy budget reached after round 2: ε = 3.30") == 0);
  CHECK(done.run.output.find("privacy budget reached after round 2") != std::string::npos);
}

TEST_CASE("privacy: clipping at the server folds each update clipped and keeps the server within its memory bound") {
  TempDir dir;
  // 4 sites send 32 MB updates at once (+1 .. +4 on every element); each is clipped to norm
  // 1 at the server, without noise (z = 0), so the model moves by exactly 1/√d an element.
  const auto done = simulate(dir, recipe(4, 4, 2, 32,
                                         "mode = \"central\"\nclip_at = \"server\"\nclipping_norm = 1.0\n"
                                         "noise_multiplier = 0\ntarget_delta = 1e-3\n"));
  REQUIRE(done.run.status == 0);
  REQUIRE(done.rounds.size() == 2);
  const auto model = cohort::load_checkpoint(done.job / "global_model.pt");
  const double d = static_cast<double>(model.tensors[0].tensor.numel() + model.tensors[1].tensor.numel());
  for (const auto& t : model.tensors) CHECK(at::allclose(t.tensor, at::full_like(t.tensor, 2 / std::sqrt(d)), 1e-4, 1e-7));
  CHECK(std::isinf(*done.rounds.back().epsilon));  // no noise: no guarantee
  for (const auto& r : done.rounds) {
    CAPTURE(r.round);
    // The streaming fold (one model) and the results waiting in files: never N models.
    CHECK(r.server_round_peak_rss_mb - r.server_rss_before_round_mb <= 2.1 * r.model_mb);
    MESSAGE("round " << r.round + 1 << ": server peak " << r.server_round_peak_rss_mb - r.server_rss_before_round_mb
                     << " MiB above between rounds, model " << r.model_mb << " MiB");
  }
}
