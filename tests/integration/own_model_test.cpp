// Your model and your code: a model class of the test's own (conv + BatchNorm, so int64
// buffers travel, and a bool buffer) as the global model in each of the three ways
// ([model] python, initial, from_site) under FedAvg and FedOpt, reloaded into the class
// with strict=True; an NVIDIA FLARE Client API script and a Flower client app, unchanged,
// on Fashion-MNIST; and the bad inputs, each refused saying what and where.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/tracking.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(COHORT_SOURCE_DIR) / "tests/fixtures/python";
const fs::path kRecipes = fs::path(COHORT_SOURCE_DIR) / "recipes/migrate";

std::string own_model_recipe(const std::string& controller, const std::string& model, const std::string& mode = "train") {
  return "[job]\nname = \"own-model\"\nnum_rounds = 2\nmin_clients = 2\n[controller]\nplugin = \"" + controller +
         "\"\n[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"" + (kFixtures / "own_model_site.py").string() +
         "\"\nargs = [\"" + mode + "\"]\n[model]\n" + model + "\n[simulation]\nclients = 2\nworkers = 2\n";
}

Finished simulate(const TempDir& dir, const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"simulate"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--workspace", (dir / name).string()});
  return run(cohort_command(argv), dir / (name + ".out"));
}

/// Runs Python (Debian's, with torch) on `code`; its output.
Finished python(const TempDir& dir, const std::string& name, const std::string& code) {
  write_text(dir / (name + ".py"), code);
  return run({"/usr/bin/python3", (dir / (name + ".py")).string()}, dir / (name + ".out"));
}

/// The global model's accuracy after the last round, as the sites evaluated it.
double final_accuracy(const fs::path& workspace) {
  double accuracy = 0;
  for (const auto& row : cohort::jobs::read_metrics(cohort::jobs::JobDirectory::at(only_job(workspace)).metrics_csv()))
    if (row.site == "global" && row.metrics.count("accuracy")) accuracy = row.metrics.at("accuracy");
  return accuracy;
}

}  // namespace

TEST_CASE("own model: the test's own class in the three [model] ways, FedAvg and FedOpt, reloads with strict=True") {
  TempDir dir;
  // `initial`: the class's weights saved by the user, as torch.save(model.state_dict()).
  const auto saved = python(dir, "save", "import sys, torch\nsys.path.insert(0, '" + kFixtures.string() +
                                             "')\nfrom bn_net import BnNet\ntorch.manual_seed(5)\n"
                                             "torch.save(BnNet().state_dict(), '" + (dir / "init.pt").string() + "')\n");
  REQUIRE_MESSAGE(saved.status == 0, saved.output);
  const std::vector<std::pair<std::string, std::string>> ways{
      {"python", "python = \"" + (kFixtures / "bn_net.py").string() + ":BnNet\"\nkwargs = { channels = 4 }"},
      {"initial", "initial = \"" + (dir / "init.pt").string() + "\""},
      {"from_site", "from_site = true"}};
  for (const std::string controller : {"fedavg", "fedopt"}) {
    for (const auto& [way, model] : ways) {
      const std::string name = controller + "-" + way;
      CAPTURE(name);
      write_text(dir / (name + ".toml"), own_model_recipe(controller, model));
      const auto done = simulate(dir, name, {(dir / (name + ".toml")).string()});
      INFO(done.output);
      REQUIRE(done.status == 0);
      const fs::path job = only_job(dir / name);
      const auto loaded = python(dir, name + "-load",
                                 "import sys, torch\nsys.path.insert(0, '" + kFixtures.string() +
                                     "')\nfrom bn_net import BnNet\nnet = BnNet()\nstate = torch.load('" +
                                     (job / "global_model.pt").string() +
                                     "')\nnet.load_state_dict(state, strict=True)\n"
                                     "print(state['bn.num_batches_tracked'].dtype, state['mask'].dtype, "
                                     "int(state['bn.num_batches_tracked']))\n");
      INFO(loaded.output);
      CHECK(loaded.status == 0);
      // Two rounds of three steps each, averaged over the sites: an int64 counter of 6.
      CHECK(loaded.output.find("torch.int64 torch.bool 6") != std::string::npos);
    }
  }
}

TEST_CASE("own model: an NVIDIA FLARE Client API script runs unchanged: FedAvg reaches 0.80, FedOpt and Cyclic run") {
  TempDir dir;
  const std::string recipe = (kRecipes / "nvflare_client_api.toml").string();
  const auto fedavg = simulate(dir, "fedavg", {recipe, "--set", "executor.args.args=[\"--limit\", \"10000\"]"});
  INFO(fedavg.output);
  REQUIRE(fedavg.status == 0);
  const double accuracy = final_accuracy(dir / "fedavg");
  MESSAGE("FLARE script, FedAvg, 3 rounds: accuracy " << accuracy);
  CHECK(accuracy >= 0.80);
  // The script's SummaryWriter reaches the job's tracking/, as the site's scalars.
  const auto tracked = cohort::jobs::read_tracked(cohort::jobs::JobDirectory::at(only_job(dir / "fedavg")));
  CHECK(std::any_of(tracked.begin(), tracked.end(), [](const cohort::jobs::TrackedScalar& s) {
    return s.source == "site-1" && s.tag == "loss_for_each_batch" && s.step == 0;
  }));
  // The other workflows, briefly: each site's share cut to 2000 samples.
  for (const std::string controller : {"fedopt", "cyclic"}) {
    const auto done = simulate(dir, controller, {recipe, "--set", "executor.args.args=[\"--limit\", \"2000\"]", "--set",
                                                 "controller.plugin=" + controller, "--set", "job.num_rounds=2"});
    INFO(done.output);
    CHECK(done.status == 0);
  }
}

TEST_CASE("own model: a Flower client app runs unchanged: FedAvg reaches 0.80, FedOpt and Cyclic run") {
  TempDir dir;
  const std::string recipe = (kRecipes / "flower_client_app.toml").string();
  const auto fedavg = simulate(dir, "fedavg", {recipe, "--set", "executor.args.config={lr = 0.05, limit = 8000}"});
  INFO(fedavg.output);
  REQUIRE(fedavg.status == 0);
  const double accuracy = final_accuracy(dir / "fedavg");
  MESSAGE("Flower app, FedAvg, 3 rounds: accuracy " << accuracy);
  CHECK(accuracy >= 0.80);
  for (const std::string controller : {"fedopt", "cyclic"}) {
    const auto done = simulate(dir, controller, {recipe, "--set", "executor.args.config={lr = 0.05, limit = 2000}", "--set",
                                                 "controller.plugin=" + controller, "--set", "job.num_rounds=2"});
    INFO(done.output);
    CHECK(done.status == 0);
  }
}

TEST_CASE("own model: bad inputs are refused saying what and where") {
  TempDir dir;
  write_text(dir / "broken.py", "import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__(\n");
  python(dir, "list", "import torch\ntorch.save([1, 2, 3], '" + (dir / "list.pt").string() + "')\n");
  struct Case {
    std::string model;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases{
      {"python = \"" + (dir / "broken.py").string() + ":Net\"",
       {"recipe.toml:12:1: [model] python = \"broken.py:Net\": Net cannot be imported", "SyntaxError"}},
      {"python = \"" + (kFixtures / "bn_net.py").string() + ":BnNet\"\nkwargs = { broken = true }",
       {"recipe.toml:12:1: [model] python = \"bn_net.py:BnNet\": BnNet could not be instantiated: its constructor raised",
        "ValueError: BnNet was asked to break"}},
      {"python = \"" + (kFixtures / "bn_net.py").string() + ":NoSuchNet\"",
       {"NoSuchNet has no such class", "the classes it defines: BnNet"}},
      {"initial = \"" + (dir / "list.pt").string() + "\"",
       {"recipe.toml:12:1: [model] list.pt: not what torch.save(model.state_dict(), FILE) writes"}},
      {"initial = \"" + (dir / "missing.pt").string() + "\"", {"recipe.toml:13:11: model.initial:", "is not a file"}},
      {"arch = \"mlp\"\nfrom_site = true", {"give one of arch, initial, python or from_site"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    write_text(dir / "recipe.toml", own_model_recipe("fedavg", c.model));
    const auto probe = run(cohort_command({"recipe", "probe", (dir / "recipe.toml").string()}),
                           dir / ("probe-" + std::to_string(++n) + ".out"));
    INFO(c.model << "\n" << probe.output);
    CHECK(probe.status == 2);
    for (const auto& said : c.says) CHECK(probe.output.find(said) != std::string::npos);
  }

  // A site whose parameters do not match the global model's: its task fails naming the tensor.
  write_text(dir / "mismatch.toml",
             own_model_recipe("fedavg", "python = \"" + (kFixtures / "bn_net.py").string() + ":BnNet\"", "wrong-shape"));
  const auto mismatch = simulate(dir, "mismatch", {(dir / "mismatch.toml").string()});
  INFO(mismatch.output);
  CHECK(mismatch.status == 1);
  CHECK(mismatch.output.find("tensor 'head.weight' is float32 [144, 3]; the task's model has float32 [3, 144]") !=
        std::string::npos);

  // An NVIDIA FLARE call cohort does not cover fails the task with the call's name.
  write_text(dir / "uncovered.toml",
             "[job]\nname = \"uncovered\"\nnum_rounds = 1\nmin_clients = 1\n[controller]\nplugin = \"fedavg\"\n"
             "[executor]\nplugin = \"python\"\n[executor.args]\napi = \"nvflare\"\nscript = \"" +
                 (kFixtures / "flare_uncovered.py").string() +
                 "\"\n[model]\narch = \"synthetic\"\nsize_mb = 0.01\ntensors = 2\n[simulation]\nclients = 1\n");
  const auto uncovered = simulate(dir, "uncovered", {(dir / "uncovered.toml").string()});
  INFO(uncovered.output);
  CHECK(uncovered.status == 1);
  CHECK(uncovered.output.find("nvflare.client.get_config is not supported by cohort") != std::string::npos);
}
