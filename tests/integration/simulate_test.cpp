// cohort simulate end to end: real server and client processes over mutual TLS.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/round_timeline.hpp"
#include "support/temp_dir.hpp"
#include "tls/tls.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/full.h>
#include <ATen/ops/equal.h>

#include <doctest/doctest.h>

#include <fstream>

using namespace cohort::test;

namespace {

std::string synthetic_recipe(const std::string& controller_args, const std::string& executor_args = "",
                             const std::string& extra = "") {
  return R"(
[job]
name = "synthetic"
num_rounds = 2
min_clients = 3

[controller]
plugin = "fedavg"
[controller.args]
)" + controller_args + R"(

[executor]
plugin = "synthetic"
[executor.args]
)" + executor_args + R"(

[model]
arch = "synthetic"
size_mb = 0.25
tensors = 3
init = 0.0

[simulation]
clients = 3
workers = 3
chunk_kib = 16
)" + extra;
}

Finished simulate(const TempDir& dir, const std::string& recipe, const std::vector<std::string>& extra = {}) {
  write_text(dir / "recipe.toml", recipe);
  std::vector<std::string> args{"simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  auto result = run(cohort_command(args), dir / "simulate.out");
  if (result.status != 0) MESSAGE(result.output);
  return result;
}

}  // namespace

TEST_CASE("simulate: FedAvg with the synthetic executor equals the weighted average by hand") {
  TempDir dir;
  // Site i (0-based) returns global + (i + 1); weights 1, 1, 2 from site_weights:
  // each round adds (1*1 + 1*2 + 2*3) / 4 = 2.25 to every element, so 4.5 after two rounds.
  auto result = simulate(dir, synthetic_recipe("site_weights = { site-3 = 2.0 }"));
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  CHECK(cohort::jobs::JobDirectory::at(job).read_status()->state == cohort::jobs::JobState::completed);
  auto model = cohort::load_checkpoint(job / "global_model.pt");
  REQUIRE(model.tensors.size() == 3);
  for (const auto& t : model.tensors) CHECK(at::equal(t.tensor, at::full(t.tensor.sizes(), 4.5f)));
  CHECK(cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(job).rounds_csv()).size() == 2);
  for (const char* process : {"server", "client-1", "client-2", "client-3"}) {
    CHECK(std::filesystem::exists(job / "memory" / (std::string(process) + ".csv")));
    CHECK(std::filesystem::exists(job / "logs" / (std::string(process) + ".log")));
  }
  CHECK(read_text(job / "recipe.toml") == read_text(dir / "recipe.toml"));
  // Mutual TLS with the cipher suite fastest on this CPU (AES-128-GCM with AES-NI).
  const auto preferred = cohort::tls::preferred_ciphersuites();
  CHECK(read_text(dir / "ws" / "logs" / "server.log")
            .find("(process 'client-1', mutual TLS, " + preferred.substr(0, preferred.find(':')) + ")") != std::string::npos);
}

TEST_CASE("simulate: workers = auto measures a site and runs fewer processes when a site is larger") {
  // Room for about 1.4 GiB more than this machine uses just before each plan: a site of a
  // 1 MB model fits several times, one of a 400 MB model (which holds the received and the
  // trained model, 800 MB, besides libtorch: it peaks near 560 MiB) fits once beside the
  // server, and would still fit once with 280 MiB more or less in use elsewhere.
  auto limit_percent = [] {
    std::ifstream meminfo("/proc/meminfo");
    std::string key, unit;
    double kib = 0, total = 0, available = 0;
    while (meminfo >> key >> kib) {
      std::getline(meminfo, unit);
      if (key == "MemTotal:") total = kib / 1024;
      if (key == "MemAvailable:") available = kib / 1024;
    }
    return 100.0 * (total - available + 1400) / total;
  };
  auto plan = [&](double size_mb) {
    TempDir dir;
    auto recipe = synthetic_recipe("", "", "[memory]\nwarn_percent = " + std::to_string(limit_percent()) +
                                           "\ncritical_percent = 100\n");
    recipe.replace(recipe.find("workers = 3"), 11, "workers = \"auto\"");
    recipe.replace(recipe.find("size_mb = 0.25"), 14, "size_mb = " + std::to_string(size_mb));
    write_text(dir / "recipe.toml", recipe);
    auto result = run(cohort_command({"simulate", (dir / "recipe.toml").string(), "--plan"}), dir / "plan.out");
    INFO(result.output);
    REQUIRE(result.status == 0);
    const auto at = result.output.find("workers: ");
    REQUIRE(at != std::string::npos);
    MESSAGE(result.output.substr(at, result.output.find('\n', at) - at));
    CHECK_FALSE(std::filesystem::exists(dir / "workspace"));  // a plan runs nothing
    return std::make_pair(std::stoi(result.output.substr(at + 9)), result.output);
  };
  const auto [small, small_text] = plan(1);
  const auto [large, large_text] = plan(400);
  CHECK(large < small);
  CHECK(large == 1);
  CHECK(large_text.find("(memory); a site peaks at ") != std::string::npos);
  CHECK(small_text.find("a site peaks at ") != std::string::npos);
}

TEST_CASE("simulate: --set overrides the recipe for every process, and the job keeps the recipe it ran") {
  TempDir dir;
  // Two rounds become three: 3 * 2.25 with the weights of the first test.
  auto result = simulate(dir, synthetic_recipe("site_weights = { site-3 = 2.0 }"),
                         {"--set", "job.num_rounds=3", "--set", "executor.args.delta=1.0"});
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  auto model = cohort::load_checkpoint(job / "global_model.pt");
  CHECK(model.tensors[0].tensor[0].item<float>() == 6.75f);
  const auto kept = read_text(job / "recipe.toml");
  CHECK(kept.find("--set job.num_rounds=3") != std::string::npos);
  CHECK(kept.find("num_rounds = 3") != std::string::npos);
}

TEST_CASE("simulate: weights follow the reported training steps") {
  TempDir dir;
  // steps_by_site: site i reports i + 1 steps, so weights 1, 2, 3 and a first round of
  // (1*1 + 2*2 + 3*3) / 6 = 14/6; the second round adds the same.
  auto result = simulate(dir, synthetic_recipe("", "steps_by_site = true"));
  REQUIRE(result.status == 0);
  auto model = cohort::load_checkpoint(only_job(dir / "ws") / "global_model.pt");
  const float expected = 14.0f / 6.0f + 14.0f / 6.0f;
  CHECK(model.tensors[0].tensor[0].item<float>() == doctest::Approx(expected).epsilon(1e-6));
}

TEST_CASE("simulate: many sites share few client processes") {
  TempDir dir;
  auto recipe = synthetic_recipe("sampling = \"all\"");
  recipe.replace(recipe.find("\nclients = 3"), 12, "\nclients = 6");
  recipe.replace(recipe.find("min_clients = 3"), 15, "min_clients = 6");
  recipe.replace(recipe.find("workers = 3"), 11, "workers = 2");
  auto result = simulate(dir, recipe);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  // sites 1..6 add 1..6: each round adds 3.5
  auto model = cohort::load_checkpoint(job / "global_model.pt");
  CHECK(model.tensors[0].tensor[0].item<float>() == 7.0f);
  CHECK(std::filesystem::exists(job / "memory" / "client-2.csv"));
  CHECK_FALSE(std::filesystem::exists(job / "memory" / "client-3.csv"));
}

TEST_CASE("simulate: the round timeline says where each round's time went, and its parts add up") {
  TempDir dir;
  // Each site computes 300 ms: the sites' part of a round is at least that.
  auto result = simulate(dir, synthetic_recipe("", "compute_ms = 300"));
  REQUIRE(result.status == 0);
  const auto job = cohort::jobs::JobDirectory::at(only_job(dir / "ws"));
  const auto rows = cohort::jobs::read_timeline(job.timeline_csv());
  const auto rounds = cohort::jobs::read_rounds(job.rounds_csv());
  const auto parts = cohort::jobs::round_parts(rows);
  REQUIRE(rounds.size() == 2);
  REQUIRE(parts.size() == 2);
  for (const auto& r : rounds) {
    CAPTURE(r.round);
    const auto& p = parts.at(r.round);
    CHECK(p.send + p.sites + p.receive + p.server == doctest::Approx(r.seconds).epsilon(0.05));
    CHECK(p.sites >= 0.3);
    for (double part : {p.send, p.sites, p.receive, p.server}) CHECK(part >= 0);
    // Every site's steps, in order.
    for (const char* site : {"site-1", "site-2", "site-3"}) {
      CAPTURE(site);
      std::map<std::string, double> at;
      for (const auto& row : rows)
        if (row.round == r.round && row.site == site) at[row.event] = row.seconds;
      REQUIRE(at.size() == 4);
      CHECK(at["sent"] <= at["result_began"]);
      CHECK(at["accepted"] <= at["result_began"]);
      CHECK(at["result_began"] <= at["result_ended"]);
      CHECK(at["result_ended"] <= r.seconds);
    }
  }
  CHECK(result.output.find("median round (") != std::string::npos);
  CHECK(result.output.find(" = send ") != std::string::npos);
}

TEST_CASE("simulate: a failed site within the error policy leaves a correct aggregate") {
  TempDir dir;
  auto result = simulate(dir, synthetic_recipe("min_responses = 2", "fail_sites = [\"site-3\"]"));
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  // sites 1 and 2 only: (1 + 2) / 2 = 1.5 per round
  CHECK(cohort::load_checkpoint(job / "global_model.pt").tensors[0].tensor[0].item<float>() == 3.0f);
  auto rounds = cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(job).rounds_csv());
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[0].failed == 1);  // one failed result per round
}

TEST_CASE("simulate: an exception a plugin throws in the probe's task is reported, never a crash") {
  TempDir dir;
  // The executor throws an exception type defined in its own library (built so that the
  // library can really be unloaded): the probe reports it as a task failure, status 1.
  std::string recipe = synthetic_recipe("");
  recipe.replace(recipe.find("plugin = \"synthetic\""), 20, "plugin = \"throwing-executor\"");
  recipe.replace(recipe.find("workers = 3"), 11, "workers = \"auto\"");
  write_text(dir / "recipe.toml", recipe);
  const auto probe = run(cohort_command({"recipe", "probe", (dir / "recipe.toml").string(), "-p", COHORT_FIXTURE_PLUGIN_DIR}),
                         dir / "probe.out");
  INFO(probe.output);
  CHECK(probe.status == 1);
  CHECK(probe.output.find("error: site 'site-1': round 0 task 'train' failed: executor failed: the fixture's training "
                          "step failed (FixtureError)") != std::string::npos);
  const auto simulated = simulate(dir, recipe, {"-p", COHORT_FIXTURE_PLUGIN_DIR});
  CHECK(simulated.status == 1);
  CHECK(simulated.output.find("the probe of one site's task failed (status 1)") != std::string::npos);
  CHECK(simulated.output.find("(FixtureError)") != std::string::npos);
}

TEST_CASE("simulate: a failed site beyond the error policy fails the job cleanly") {
  TempDir dir;
  auto result = simulate(dir, synthetic_recipe("", "fail_sites = [\"site-3\"]"));
  CHECK(result.status == 1);
  const auto job = only_job(dir / "ws");
  const auto status = cohort::jobs::JobDirectory::at(job).read_status();
  REQUIRE(status);
  CHECK(status->state == cohort::jobs::JobState::execution_exception);
  CHECK(status->message.rfind("round 0: 2 of 3 results arrived, 3 needed", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(job / "global_model.pt"));
}

TEST_CASE("simulate: recipe hooks see the lifecycle events in order") {
  TempDir dir;
  const auto events = dir / "events.txt";
  auto recipe = "plugin_path = [\"" + std::string(COHORT_FIXTURE_PLUGIN_DIR) + "\"]\n" +
                synthetic_recipe("final_validation = false", "",
                                 "\n[[hooks]]\nplugin = \"recording-hook\"\n[hooks.args]\nfile = \"" + events.string() + "\"\n");
  recipe.replace(recipe.find("clients = 3\nworkers = 3"), 23, "clients = 3\nworkers = 1");
  auto result = simulate(dir, recipe);
  REQUIRE(result.status == 0);
  std::vector<std::string> server_events;
  int client_round_ends = 0;
  std::ifstream in(events);
  std::string line;
  while (std::getline(in, line)) {
    // "<role> <event> <round>[ <site>]": compare event and round
    const auto site_at = line.find(' ', line.find(' ', 7) + 1);
    if (line.rfind("server ", 0) == 0) server_events.push_back(line.substr(7, site_at == std::string::npos ? std::string::npos : site_at - 7));
    else if (line.rfind("client round_ended", 0) == 0) ++client_round_ends;
  }
  std::vector<std::string> round0{"round_started 0", "task_sent 0",         "task_sent 0",         "task_sent 0",
                                  "result_received 0", "result_received 0", "result_received 0", "result_aggregated 0",
                                  "result_aggregated 0", "result_aggregated 0", "round_ended 0"};
  REQUIRE(server_events.size() == 2 + 2 * round0.size());
  CHECK(server_events.front() == "job_started -1");
  CHECK((std::vector<std::string>(server_events.begin() + 1, server_events.begin() + 1 + round0.size()) == round0));
  CHECK(server_events.back() == "job_ended -1");
  CHECK(client_round_ends == 6);  // three sites, two rounds
}

// Every shipped recipe is run, on fewer samples so that CI stays fast: real data, real
// training, real processes.
void check_shipped_recipe(const std::string& file, double min_accuracy) {
  TempDir dir;
  std::string recipe = read_text(std::filesystem::path(COHORT_SOURCE_DIR) / "recipes" / file);
  recipe.replace(recipe.find("partition = \"iid\""), 17,
                 "partition = \"iid\"\nmax_train_samples = 4000\nmax_test_samples = 1000");
  auto result = simulate(dir, recipe);
  REQUIRE(result.status == 0);
  const auto job = only_job(dir / "ws");
  double last_accuracy = 0;
  for (const auto& row : cohort::jobs::read_metrics(cohort::jobs::JobDirectory::at(job).metrics_csv())) {
    if (row.site == "global" && row.metrics.count("accuracy")) last_accuracy = row.metrics.at("accuracy");
  }
  MESSAGE(file << ": accuracy " << last_accuracy << " with 4000 samples per site");
  CHECK(last_accuracy > min_accuracy);
  const std::string check = "/usr/bin/python3 -c \"import torch; d = torch.load('" + (job / "global_model.pt").string() +
                            "'); assert isinstance(d, dict) and d['fc1.weight'].shape == (256, 784), d.keys()\"";
  CHECK(std::system(check.c_str()) == 0);
}

TEST_CASE("simulate: the FedAvg recipe trains on Fashion-MNIST and Python reads its models") {
  check_shipped_recipe("fedavg_fashion_mnist.toml", 0.70);
}

TEST_CASE("simulate: the FedOpt recipe trains on Fashion-MNIST") { check_shipped_recipe("fedopt_fashion_mnist.toml", 0.70); }

TEST_CASE("simulate: the Cyclic recipe trains on Fashion-MNIST") { check_shipped_recipe("cyclic_fashion_mnist.toml", 0.60); }

TEST_CASE("simulate: the Swarm recipe trains on Fashion-MNIST") { check_shipped_recipe("swarm_fashion_mnist.toml", 0.70); }
