#include "fedavg.hpp"

#include <doctest/doctest.h>

using namespace cohort::fedavg;

TEST_CASE("fedavg: stop conditions parse and evaluate") {
  auto c = parse_stop_condition("accuracy >= 0.9");
  REQUIRE(c);
  CHECK(c->metric == "accuracy");
  CHECK(c->met(0.9));
  CHECK_FALSE(c->met(0.89));
  CHECK(parse_stop_condition("loss < 0.1")->met(0.05));
  CHECK_FALSE(parse_stop_condition(""));
}

TEST_CASE("fedavg: malformed stop conditions say what is wrong") {
  CHECK_THROWS_WITH(parse_stop_condition("accuracy"), "expected \"<metric> <op> <value>\", e.g. \"accuracy >= 0.9\"");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy == 1"), "operator '==' is not one of >=, >, <=, <");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy > high"), "'high' is not a number");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy > 1 extra"),
                    "expected \"<metric> <op> <value>\", e.g. \"accuracy >= 0.9\"");
}

// ---- FedAvg's run() against an in-memory context ------------------------------------

#include "support/fake_controller_context.hpp"

#include <cohort/metrics.hpp>

namespace {

using cohort::test::FakeControllerContext;

cohort::JobInfo job(std::int64_t rounds, std::int64_t min_clients) {
  cohort::JobInfo j;
  j.id = "job";
  j.name = "fedavg-test";
  j.num_rounds = rounds;
  j.min_clients = min_clients;
  return j;
}

const std::vector<std::string> kSites{"site-1", "site-2", "site-3", "site-4"};

/// Site i (1-based) returns the model it received plus i, after i training steps; it
/// reports `accuracy(round)` for the model it received.
FakeControllerContext::Behaviour adding_sites(std::function<double(std::int64_t)> accuracy = {}) {
  return [accuracy](const std::string& site, const cohort::Task& task) {
    FakeControllerContext::Answer a;
    const int i = site.back() - '0';
    if (task.name == "train") {
      a.model = task.model.clone();
      for (auto& t : a.model.tensors) t.tensor.add_(static_cast<float>(i));
      a.num_steps = i;
    }
    if (accuracy) a.metrics = {{"accuracy", accuracy(task.round)}, {"test_examples", 100}};
    return a;
  };
}

std::unique_ptr<FedAvg> fedavg(cohort::JobInfo& j, const std::string& args) {
  const auto a = cohort::test::controller_args(args);
  auto config = parse_config(a, j);
  a.finish();
  return std::make_unique<FedAvg>(std::move(config));
}

float value_of(const cohort::Model& m) { return m.tensors.front().tensor[0].item<float>(); }

}  // namespace

TEST_CASE("fedavg run: each round samples min_clients sites and makes their step-weighted average the global model") {
  auto j = job(3, 2);
  FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0), adding_sites());
  fedavg(j, "final_validation = false")->run(ctx);
  CHECK(ctx.rounds_started == std::vector<std::int64_t>{0, 1, 2});
  CHECK(ctx.rounds_ended == std::vector<std::int64_t>{0, 1, 2});
  REQUIRE(ctx.tasks.size() == 3);
  float expected = 0;
  for (const auto& t : ctx.tasks) {
    CHECK(t.task == "train");
    REQUIRE(t.targets.size() == 2);
    // Weights are the steps i, updates are i: sum(i * i) / sum(i).
    float num = 0, den = 0;
    for (const auto& s : t.targets) {
      const float i = static_cast<float>(s.back() - '0');
      num += i * i;
      den += i;
    }
    expected += num / den;
  }
  CHECK(value_of(ctx.global_model()) == doctest::Approx(expected));
  CHECK(ctx.global_model().round == 2);
  CHECK(value_of(ctx.last_persisted("global")) == doctest::Approx(expected));
}

TEST_CASE("fedavg run: sampling all and fraction") {
  auto j = job(1, 1);
  SUBCASE("all") {
    FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0), adding_sites());
    fedavg(j, "sampling = 'all'\nfinal_validation = false")->run(ctx);
    CHECK(ctx.tasks.front().targets == kSites);
  }
  SUBCASE("fraction") {
    FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0), adding_sites());
    fedavg(j, "sampling = 'fraction'\nfraction = 0.5\nfinal_validation = false")->run(ctx);
    CHECK(ctx.tasks.front().targets.size() == 2);
  }
  SUBCASE("a misspelt sampling names the choices") {
    CHECK_THROWS_WITH(fedavg(j, "sampling = 'some'"),
                      "recipe.toml:2:12: controller.args.sampling: expected \"min_clients\", \"all\" or \"fraction\", "
                      "found \"some\"");
  }
}

TEST_CASE("fedavg run: failures within min_responses leave the average of the others, beyond it the job fails") {
  auto failing = [](const std::string& bad) {
    return [bad](const std::string& site, const cohort::Task& task) {
      if (site == bad) return FakeControllerContext::Answer{false, "executor failed: out of data", {}, {}, {}};
      return adding_sites()(site, task);
    };
  };
  SUBCASE("tolerated: the average of the sites that answered") {
    auto j = job(1, 3);
    FakeControllerContext ctx(j, {"site-1", "site-2", "site-3"}, cohort::test::filled_model(0), failing("site-3"));
    fedavg(j, "min_responses = 2\nfinal_validation = false")->run(ctx);
    CHECK(value_of(ctx.global_model()) == doctest::Approx((1.0 * 1 + 2.0 * 2) / 3));
  }
  SUBCASE("too few results") {
    auto j = job(2, 3);
    FakeControllerContext ctx(j, {"site-1", "site-2", "site-3"}, cohort::test::filled_model(0), failing("site-2"));
    CHECK_THROWS_WITH_AS(fedavg(j, "")->run(ctx),
                         "round 0: 2 of 3 results arrived, 3 needed (first failure: site-2: executor failed: out of data)",
                         cohort::JobError);
    CHECK(ctx.rounds_ended.empty());
  }
  SUBCASE("fail_on_any_error") {
    auto j = job(1, 3);
    FakeControllerContext ctx(j, {"site-1", "site-2", "site-3"}, cohort::test::filled_model(0), failing("site-1"));
    CHECK_THROWS_AS(fedavg(j, "min_responses = 1\nfail_on_any_error = true")->run(ctx), cohort::JobError);
  }
}

TEST_CASE("fedavg run: best_model.pt follows the key metric of the global model, either way") {
  // The sites evaluate the model they receive: round r's reports are about the global
  // model after round r - 1; the final validation reports on the last one.
  const std::vector<double> accuracy{0.1, 0.5, 0.7, 0.6, 0.65};
  auto j = job(4, 2);
  SUBCASE("max") {
    FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0),
                              adding_sites([&](std::int64_t round) { return accuracy.at(round); }));
    fedavg(j, "")->run(ctx);
    int bests = 0;
    for (const auto& [tag, model] : ctx.persisted) bests += tag == "best" ? 1 : 0;
    CHECK(bests == 2);  // after rounds 0 (0.5) and 1 (0.7); 0.6 and 0.65 are not better
    int globals = 0;
    for (const auto& [round, site, metrics] : ctx.metrics_rows) {
      if (site != "global") continue;
      ++globals;
      CHECK(metrics.at("accuracy") == doctest::Approx(accuracy.at(round + 1)));
    }
    CHECK(globals == 4);
  }
  SUBCASE("min") {
    FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0),
                              adding_sites([&](std::int64_t round) { return accuracy.at(round); }));
    fedavg(j, "key_metric_mode = 'min'")->run(ctx);
    int bests = 0;
    for (const auto& [tag, model] : ctx.persisted) bests += tag == "best" ? 1 : 0;
    CHECK(bests == 1);  // 0.5 after round 0; nothing later is lower
  }
}

TEST_CASE("fedavg run: the stop condition ends the job after the round whose global model meets it") {
  auto j = job(10, 2);
  FakeControllerContext ctx(j, kSites, cohort::test::filled_model(0),
                            adding_sites([](std::int64_t round) { return 0.3 * static_cast<double>(round); }));
  fedavg(j, "stop_condition = 'accuracy >= 0.85'")->run(ctx);
  // Round 3's sites report 0.9 for the global model after round 2.
  CHECK(ctx.rounds_ended.back() == 3);
  CHECK(ctx.tasks.back().task == "train");
}
