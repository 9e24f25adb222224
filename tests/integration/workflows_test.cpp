// FedOpt and Cyclic on the synthetic executor, whose updates are known: each aggregate is
// checked against a hand computation.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/local_project.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/equal.h>

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>

using namespace cohort::test;
using cohort::process::ChildProcess;

namespace {

std::string recipe(const std::string& controller, const std::string& args, int sites = 3, int rounds = 2,
                   const std::string& extra = "") {
  return "[job]\nname = \"" + controller + "\"\nnum_rounds = " + std::to_string(rounds) +
         "\nmin_clients = " + std::to_string(sites) + "\n[controller]\nplugin = \"" + controller +
         "\"\n[controller.args]\n" + args +
         "\n[executor]\nplugin = \"synthetic\"\n[executor.args]\nsteps_by_site = true\n"
         "[model]\narch = \"synthetic\"\nsize_mb = 0.1\ntensors = 2\ninit = 0.1\n"
         "[simulation]\nclients = " + std::to_string(sites) + "\nworkers = " + std::to_string(sites) + "\n" + extra;
}

cohort::Model simulate_model(const TempDir& dir, const std::string& name, const std::string& text) {
  write_text(dir / (name + ".toml"), text);
  auto result = run(cohort_command({"simulate", (dir / (name + ".toml")).string(), "--workspace", (dir / name).string()}),
                    dir / (name + ".out"));
  if (result.status != 0) MESSAGE(result.output);
  REQUIRE(result.status == 0);
  return cohort::load_checkpoint(only_job(dir / name) / "global_model.pt");
}

}  // namespace

TEST_CASE("fedopt: SGD with lr 1.0 and no momentum equals FedAvg, bit for bit") {
  TempDir dir;
  // Results are folded in arrival order, and float addition is not associative: two runs
  // of FedAvg alone may differ in the last bit unless every partial sum is exact. With an
  // initial 0.5, updates +1 +2 +3 and weights 1, 1, 2, they are (multiples of 1/4).
  auto exact = [](std::string text) {
    text.replace(text.find("steps_by_site = true"), 20, "steps_by_site = false");
    text.replace(text.find("init = 0.1"), 10, "init = 0.5");
    return text;
  };
  auto fedavg = simulate_model(dir, "fedavg", exact(recipe("fedavg", "site_weights = { site-3 = 2.0 }")));
  auto fedopt = simulate_model(dir, "fedopt", exact(recipe("fedopt", "site_weights = { site-3 = 2.0 }\noptimizer = \"sgd\"\nlr = 1.0\nmomentum = 0.0")));
  CHECK(fedavg.tensors[0].tensor[0].item<float>() == 5.0f);
  REQUIRE(fedavg.tensors.size() == fedopt.tensors.size());
  for (std::size_t i = 0; i < fedavg.tensors.size(); ++i) CHECK(at::equal(fedavg.tensors[i].tensor, fedopt.tensors[i].tensor));
}

TEST_CASE("fedopt: the default server SGD with momentum follows the hand computation") {
  TempDir dir;
  // Each round the sites' weighted average adds 14/6 (weights 1, 2, 3 times +1, +2, +3),
  // so the pseudo-gradient is g = -14/6 every round. SGD lr 1, momentum 0.6:
  // round 0: buf = g, p = 0.1 - g; round 1: buf = 0.6 g + g, p -= buf.
  auto model = simulate_model(dir, "fedopt", recipe("fedopt", ""));
  const double g = -14.0 / 6.0;
  const double expected = 0.1 - g - (0.6 * g + g);
  CHECK(model.tensors[0].tensor[0].item<float>() == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("cyclic: the model visits every site in turn, each training on the previous result") {
  TempDir dir;
  const auto events = dir / "events.txt";
  auto text = "plugin_path = [\"" + std::string(COHORT_FIXTURE_PLUGIN_DIR) + "\"]\n" +
              recipe("cyclic", "order = \"explicit\"\nsites = [\"site-3\", \"site-1\", \"site-2\"]\nfinal_validation = false", 3, 2,
                     "[[hooks]]\nplugin = \"recording-hook\"\n[hooks.args]\nfile = \"" + events.string() + "\"\n");
  auto model = simulate_model(dir, "cyclic", text);
  // 0.1, then +3 +1 +2 in each of two rounds
  CHECK(model.tensors[0].tensor[0].item<float>() == doctest::Approx(12.1f));
  std::vector<std::string> visits;
  std::ifstream in(events);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("server task_sent", 0) == 0) visits.push_back(line.substr(line.rfind(' ') + 1));
  }
  CHECK((visits == std::vector<std::string>{"site-3", "site-1", "site-2", "site-3", "site-1", "site-2"}));
}

TEST_CASE("cyclic: a site killed during a round is skipped and the model goes on") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe("cyclic", "", 3, 2));
  // site-2 dies uploading its first result.
  REQUIRE(run_local_job(dir, 3, 2, 4096).server_status == 0);
  // Round 0: site-1 +1, site-2 dies (skipped), site-3 +3; round 1: sites 1 and 3 only, +4.
  auto model = cohort::load_checkpoint(only_job(dir / "ws") / "global_model.pt");
  CHECK(model.tensors[0].tensor[0].item<float>() == doctest::Approx(8.1f));
}

TEST_CASE("cyclic: fewer than two active sites fail the job with a clear message") {
  TempDir dir;
  write_text(dir / "recipe.toml", recipe("cyclic", "", 1, 2));
  auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}),
                    dir / "out");
  CHECK(result.status == 1);
  const auto status = cohort::jobs::JobDirectory::at(only_job(dir / "ws")).read_status();
  REQUIRE(status);
  CHECK(status->state == cohort::jobs::JobState::execution_exception);
  CHECK(status->message == "round 0: Cyclic needs at least 2 active sites, 1 connected");
}

TEST_CASE("fedavg: averaging in the global model's memory gives the accumulator's models, bit for bit, best model included") {
  TempDir dir;
  // Two sites: each element's sum has two terms, the same in either arrival order.
  const std::string args = "final_validation = false\naggregate_in_place = ";
  // The sites compute for 0.3 s, so every task is on the wire before a result comes;
  // rounds 1 and 2 sum in place (round 0's initial model is not on disk).
  const auto job = [&](const std::string& in_place) {
    std::string text = recipe("fedavg", args + in_place, 2, 3);
    return text.replace(text.find("steps_by_site = true"), 20, "steps_by_site = true\ncompute_ms = 300");
  };
  auto in_place = simulate_model(dir, "in-place", job("true"));
  auto accumulated = simulate_model(dir, "accumulated", job("false"));
  REQUIRE(in_place.tensors.size() == accumulated.tensors.size());
  for (std::size_t i = 0; i < in_place.tensors.size(); ++i) CHECK(at::equal(in_place.tensors[i].tensor, accumulated.tensors[i].tensor));
  // best_model.pt is the global model the sites evaluated, linked from its file after its memory went to the sums.
  const auto best = [&](const std::string& name) { return cohort::load_checkpoint(only_job(dir / name) / "best_model.pt"); };
  const auto best_in_place = best("in-place"), best_accumulated = best("accumulated");
  for (std::size_t i = 0; i < in_place.tensors.size(); ++i) CHECK(at::equal(best_in_place.tensors[i].tensor, best_accumulated.tensors[i].tensor));
  CHECK_FALSE(at::equal(best_in_place.tensors[0].tensor, in_place.tensors[0].tensor));
  // Each round's broadcast lent the global model (timeline.csv), only where asked.
  const auto lent = [&](const std::string& name) {
    const std::string timeline = read_text(cohort::jobs::JobDirectory::at(only_job(dir / name)).timeline_csv());
    std::size_t n = 0;
    for (auto at = timeline.find("model_lent"); at != std::string::npos; at = timeline.find("model_lent", at + 1)) ++n;
    return n;
  };
  CHECK(lent("in-place") == 2);
  CHECK(lent("accumulated") == 0);
}

TEST_CASE("fedavg: reuse_model_memory on and off give the same models over 5 rounds") {
  TempDir dir;
  const auto job = [&](const std::string& reuse) {
    std::string text = recipe("fedavg", "final_validation = false", 2, 5, "reuse_model_memory = " + reuse + "\n");
    // Model-sized tensors (4 × 1 MiB and more) are the ones kept.
    return text.replace(text.find("size_mb = 0.1"), 13, "size_mb = 8.0");
  };
  auto reused = simulate_model(dir, "reused", job("true"));
  auto fresh = simulate_model(dir, "fresh", job("false"));
  REQUIRE(reused.tensors.size() == fresh.tensors.size());
  for (std::size_t i = 0; i < reused.tensors.size(); ++i) CHECK(at::equal(reused.tensors[i].tensor, fresh.tensors[i].tensor));
}
