// Jobs that survive their server: a long-running server killed with SIGKILL (at the start,
// in the middle and at the end of a round, and while a checkpoint is being written)
// restarts under its watchdog and resumes the job it was running from its last completed
// round. The job ends with the same global model, bit for bit, as the same job run without
// a restart, with every round once in rounds.csv and metrics.csv; an admin's `job wait`
// started before the kills waits through them. Every process is real.
#include "support/kit_project.hpp"

#include "jobs/csv.hpp"

#include <cohort/model.hpp>

#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

constexpr int kRounds = 6;
constexpr int kComputeMs = 300;

/// A job of `workflow` on the synthetic executor: 3 sites, 2 sampled per round by FedAvg
/// and FedOpt (the server's sampler must resume too), Cyclic in a random order.
std::string recipe(const std::string& workflow, int size_mb = 1) {
  std::string controller;
  if (workflow == "fedavg") controller = "plugin = \"fedavg\"\n";
  if (workflow == "fedopt") controller = "plugin = \"fedopt\"\n[controller.args]\noptimizer = \"adam\"\nlr = 0.05\n";
  if (workflow == "cyclic") controller = "plugin = \"cyclic\"\n[controller.args]\norder = \"random\"\n";
  if (workflow == "swarm")
    controller = "plugin = \"swarm\"\n[controller.args]\naggregation_timeout_s = 30\nmax_status_report_interval_s = 30\n"
                 "progress_timeout_s = 120\nseed = 11\n";
  return "[job]\nname = \"" + workflow + "\"\nnum_rounds = " + std::to_string(kRounds) +
         "\nmin_clients = " + (workflow == "swarm" ? "3" : "2") + "\nseed = 7\n[controller]\n" + controller +
         "[executor]\nplugin = \"synthetic\"\n[executor.args]\nsteps_by_site = true\ncompute_ms = " +
         std::to_string(kComputeMs) + "\n[model]\narch = \"synthetic\"\nsize_mb = " + std::to_string(size_mb) +
         "\ntensors = 2\n";
}

fs::path job_folder(const KitProject& project, const std::string& id) { return project.server_workspace() / "jobs" / id; }

bool log_says(const KitProject& project, const std::string& id, const std::string& text) {
  return read_text(job_folder(project, id) / "logs" / "server.log").find(text) != std::string::npos;
}

/// Rows of a job's results file, as (round, site) -> how many times.
std::map<std::pair<std::string, std::string>, int> rows(const fs::path& csv, bool by_site) {
  std::map<std::pair<std::string, std::string>, int> out;
  cohort::jobs::CsvTable table = cohort::jobs::CsvTable::read(csv);
  for (const auto& row : table.rows()) ++out[{row.text("round"), by_site ? row.text("site") : ""}];
  return out;
}

std::vector<std::string> column(const fs::path& csv, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& row : cohort::jobs::CsvTable::read(csv).rows()) out.push_back(row.text(name));
  return out;
}

int completed_rounds(const KitProject& project, const std::string& id) {
  const auto csv = job_folder(project, id) / "rounds.csv";
  return fs::exists(csv) ? static_cast<int>(cohort::jobs::CsvTable::read(csv).rows().size()) : 0;
}

/// Bit for bit; or, where the sum's order is the network's (Swarm's aggregator folds results
/// as they arrive), within float rounding.
void check_same_model(const fs::path& a, const fs::path& b, bool exact = true) {
  INFO(a.filename().string());
  const auto left = cohort::load_checkpoint(a);
  const auto right = cohort::load_checkpoint(b);
  REQUIRE(left.tensors.size() == right.tensors.size());
  for (std::size_t i = 0; i < left.tensors.size(); ++i) {
    CHECK(left.tensors[i].name == right.tensors[i].name);
    const auto& x = left.tensors[i].tensor;
    const auto& y = right.tensors[i].tensor;
    CHECK_MESSAGE((exact ? at::equal(x, y) : at::allclose(x, y, 1e-6, 1e-6)), left.tensors[i].name << " differs");
  }
}

/// Runs `baseline_text` (or `recipe_text`) without a restart, then `recipe_text` with the
/// server killed at each point `kill_points` waits for; checks that both end alike.
void check_resume(const std::string& workflow, const std::string& recipe_text,
                  const std::vector<std::function<bool(const KitProject&, const std::string&)>>& kill_points,
                  bool exact = true, const std::string& baseline_text = {}) {
  TempDir dir;
  KitProject project(dir, {3});
  project.start("server");
  for (const auto& site : project.sites()) project.start(site);
  project.wait_until_serving();

  const auto baseline = project.submit(baseline_text.empty() ? recipe_text : baseline_text);
  REQUIRE(project.admin({"wait", baseline, "--timeout", "120"}).status == 0);

  const auto id = project.submit(recipe_text);
  // An admin waiting from before the first kill to the end.
  cohort::process::ChildProcess waiting(
      cohort_command({"job", "wait", id, "--timeout", "300", "--kit", project.kit("boss@a").string()}), {},
      dir / "wait.out");
  for (std::size_t i = 0; i < kill_points.size(); ++i) {
    INFO(workflow << ": kill point " << i + 1);
    REQUIRE(wait_until([&] { return kill_points[i](project, id); }));
    project.kill_server();
  }
  const int waited = waiting.wait_for(std::chrono::seconds(300)).value_or(-1);
  const auto said = read_text(dir / "wait.out");
  INFO(said);
  INFO(read_text(job_folder(project, id) / "logs" / "server.log"));
  REQUIRE(waited == 0);
  CHECK(said.find("COMPLETED, round " + std::to_string(kRounds) + " of " + std::to_string(kRounds)) != std::string::npos);
  CHECK(said.find("server unreachable") != std::string::npos);

  CHECK(project.status(id) == "COMPLETED");
  CHECK(project.show(id, "resumed") == std::to_string(kill_points.size()) + (kill_points.size() == 1 ? " time" : " times"));
  CHECK(project.show(id, "last error").find("the server stopped while the job was running") != std::string::npos);
  CHECK(project.show(id, "rounds") == std::to_string(kRounds) + " of " + std::to_string(kRounds));
  CHECK(log_says(project, id, "RESUMED in epoch " + std::to_string(kill_points.size())));

  const auto a = job_folder(project, baseline), b = job_folder(project, id);
  check_same_model(a / "global_model.pt", b / "global_model.pt", exact);
  check_same_model(a / "best_model.pt", b / "best_model.pt", exact);
  // Every round once, with the same sites' rows as without the restarts.
  CHECK(rows(b / "rounds.csv", false) == rows(a / "rounds.csv", false));
  CHECK(rows(b / "metrics.csv", true) == rows(a / "metrics.csv", true));
  CHECK(cohort::jobs::CsvTable::read(b / "rounds.csv").rows().size() == kRounds);
  // The privacy spent after each round (empty without [privacy]), to the last bit.
  CHECK(column(b / "rounds.csv", "epsilon") == column(a / "rounds.csv", "epsilon"));
  if (recipe_text.find("[privacy]") != std::string::npos) CHECK(project.show(id, "privacy").find("ε = ") == 0);
  // The state of a finished job is gone with it.
  CHECK_FALSE(fs::exists(b / "state"));
}

/// Kill points: as round `round` (1-based) starts; halfway through it; right after it ended.
auto at_start(int round) {
  return [round](const KitProject& p, const std::string& id) {
    return log_says(p, id, "round " + std::to_string(round) + "/" + std::to_string(kRounds) + " started");
  };
}
auto in_middle(int round) {
  return [round](const KitProject& p, const std::string& id) {
    if (!at_start(round)(p, id)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kComputeMs / 2));
    return true;
  };
}
auto at_end(int round) {
  return [round](const KitProject& p, const std::string& id) { return completed_rounds(p, id) >= round; };
}

}  // namespace

TEST_CASE("resume: FedAvg killed at the start, middle and end of rounds ends with the same model as without") {
  // The resumed job sums in the global model's memory; the baseline in an accumulator
  // (two sites a round: each sum has two terms, the same in either order).
  const std::string plugin = "plugin = \"fedavg\"\n";
  std::string accumulated = recipe("fedavg");
  accumulated.replace(accumulated.find(plugin), plugin.size(), plugin + "[controller.args]\naggregate_in_place = false\n");
  check_resume("fedavg", recipe("fedavg"), {at_start(2), in_middle(4), at_end(5)}, true, accumulated);
}

TEST_CASE("resume: FedAvg with central DP, clipped at the server, ends with the same model and ε, bit for bit") {
  // The noise is seeded per round (a test seed), so the model is the same too.
  check_resume("fedavg-dp",
               recipe("fedavg") + "[privacy]\nmode = \"central\"\nclip_at = \"server\"\nclipping_norm = 50.0\n"
                                  "noise_multiplier = 0.8\ntarget_delta = 1e-2\nseed = 9\n",
               {at_start(2), in_middle(4)});
}

TEST_CASE("resume: FedAvg with secure aggregation killed mid-round redoes the round with fresh keys, same model bit for bit") {
  // All 3 sites a round, threshold 2: the unmasked sum is exact, so the model is too.
  std::string text = recipe("fedavg");
  text.replace(text.find("min_clients = 2"), 15, "min_clients = 3");
  check_resume("fedavg-secure", text + "[secure_aggregation]\nthreshold = 2\nmax_weight = 3\n", {at_start(2), in_middle(4)});
}

TEST_CASE("resume: FedOpt (Adam) killed at the start, middle and end of rounds ends with the same model as without") {
  check_resume("fedopt", recipe("fedopt"), {at_start(2), in_middle(3), at_end(5)});
}

TEST_CASE("resume: Cyclic in a random order killed at the start, middle and end of rounds ends with the same model as without") {
  check_resume("cyclic", recipe("cyclic"), {at_start(2), in_middle(4), at_end(5)});
}

TEST_CASE("resume: Swarm killed at the start, middle and end of rounds ends with the same model as without (to float rounding)") {
  check_resume("swarm", recipe("swarm"), {at_start(2), in_middle(4), at_end(5)}, false);
}

TEST_CASE("resume: a server killed while it writes a checkpoint resumes from whole files") {
  // 64 MiB: the write of global_model.pt takes long enough to be caught in the act.
  check_resume("fedavg", recipe("fedavg", 64), {[](const KitProject& p, const std::string& id) {
                 return completed_rounds(p, id) >= 2 && fs::exists(job_folder(p, id) / "global_model.pt.partial");
               }});
}

TEST_CASE("resume: a third party's controller that cannot resume ends ABNORMAL, saying why") {
  TempDir dir;
  KitProject project(dir);
  project.start("server");
  for (const auto& site : project.sites()) project.start(site);
  project.wait_until_serving();
  const auto id = project.submit("plugin_path = [\"" + std::string(COHORT_FIXTURE_PLUGIN_DIR) +
                                 "\"]\n[job]\nname = \"third-party\"\nnum_rounds = 3\nmin_clients = 2\n"
                                 "[controller]\nplugin = \"unresumable\"\n[executor]\nplugin = \"synthetic\"\n"
                                 "[model]\narch = \"synthetic\"\nsize_mb = 1\n");
  REQUIRE(wait_until([&] { return log_says(project, id, "round 1/3 started"); }));
  project.kill_server();
  REQUIRE(wait_until([&] { return project.status(id) == "ABNORMAL"; }));
  const auto shown = project.admin({"show", id}).output;
  INFO(shown);
  CHECK(shown.find("its controller 'unresumable' cannot resume") != std::string::npos);
  CHECK(project.show(id, "resumed") == "1 time");
}

TEST_CASE("resume: a server stopped by its stop.sh and started again resumes the job it was running") {
  TempDir dir;
  KitProject project(dir, {3});
  project.start("server");
  for (const auto& site : project.sites()) project.start(site);
  project.wait_until_serving();
  const auto id = project.submit(recipe("fedavg"));
  REQUIRE(wait_until([&] { return completed_rounds(project, id) >= 2; }));
  project.stop("server");
  CHECK(project.status(id).empty());  // nobody answers
  project.start("server");
  const auto waited = project.admin({"wait", id, "--timeout", "120"});
  INFO(waited.output);
  REQUIRE(waited.status == 0);
  CHECK(project.show(id, "resumed") == "1 time");
  CHECK(read_text(project.server_workspace() / "logs" / "server.log").find("it resumes when the server starts again") !=
        std::string::npos);
  CHECK(cohort::jobs::CsvTable::read(job_folder(project, id) / "rounds.csv").rows().size() == kRounds);
}
