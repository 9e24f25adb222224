#include "swarm.hpp"

#include <doctest/doctest.h>

#include <map>

using cohort::swarm::choose_aggregator;

TEST_CASE("swarm: the aggregator draw depends only on the eligible sites, the seed and the round") {
  const std::vector<std::string> sites{"site-3", "site-1", "site-2"};
  for (int round = 0; round < 20; ++round) {
    const auto a = choose_aggregator(sites, 7, round);
    CHECK(a == choose_aggregator({"site-1", "site-2", "site-3"}, 7, round));  // order of the list does not matter
    CHECK((a == "site-1" || a == "site-2" || a == "site-3"));
  }
}

TEST_CASE("swarm: every eligible site gets drawn, about equally") {
  std::map<std::string, int> counts;
  for (int round = 0; round < 3000; ++round) ++counts[choose_aggregator({"a", "b", "c"}, 1, round)];
  CHECK(counts.size() == 3);
  for (const auto& [site, n] : counts) CHECK(n > 800);
}

TEST_CASE("swarm: nobody eligible draws nobody") { CHECK(choose_aggregator({}, 0, 0).empty()); }

// ---- The server's part of Swarm against an in-memory context ------------------------

#include "support/fake_controller_context.hpp"

namespace {

using cohort::test::FakeControllerContext;

cohort::swarm::SwarmConfig swarm_config(const cohort::JobInfo& j, const std::string& args) {
  const auto a = cohort::test::controller_args(args);
  auto config = cohort::swarm::parse_config(a, j);
  a.finish();
  return config;
}

cohort::SiteReport report(const std::string& site, const std::string& name, std::int64_t round,
                          cohort::Metrics metrics = {}, cohort::Model model = {},
                          std::map<std::string, std::string> meta = {}) {
  cohort::SiteReport r;
  r.from = site;
  r.name = name;
  r.round = round;
  r.metrics = std::move(metrics);
  r.model = std::move(model);
  r.meta = std::move(meta);
  return r;
}

FakeControllerContext::Behaviour validating() {
  return [](const std::string&, const cohort::Task&) {
    FakeControllerContext::Answer a;
    a.metrics = {{"accuracy", 0.8}};
    return a;
  };
}

}  // namespace

TEST_CASE("swarm controller: starts the drawn aggregator, records each round, keeps the final and the best model") {
  cohort::JobInfo j{"job", "swarm", 2, 2, {}};
  const std::vector<std::string> sites{"site-1", "site-2", "site-3"};
  FakeControllerContext ctx(j, sites, cohort::test::filled_model(0), validating());
  ctx.reports = {report("site-2", "round_started", 0),
                 report("site-3", "status", 0, {{"best_accuracy", 0.9}}),
                 report("site-2", "round_done", 0, {{"accuracy", 0.4}, {"best_accuracy", 0.5}},
                        cohort::test::filled_model(5), {{"next", "site-1"}, {"replied", "site-1,site-2,site-3"}}),
                 report("site-1", "round_started", 1),
                 report("site-1", "round_done", 1, {{"accuracy", 0.6}, {"best_accuracy", 0.6}},
                        cohort::test::filled_model(7), {{"next", ""}, {"replied", "site-1,site-2,site-3"}}),
                 report("site-3", "best", 2, {}, cohort::test::filled_model(9))};
  cohort::swarm::SwarmController(swarm_config(j, "seed = 3")).run(ctx);
  REQUIRE_FALSE(ctx.notified.empty());
  CHECK(std::get<0>(ctx.notified.front()) == choose_aggregator(sites, 3, 0));
  CHECK(std::get<1>(ctx.notified.front()) == "swarm_aggregate");
  CHECK(ctx.rounds_started == std::vector<std::int64_t>{0, 1});
  // Each round's model, from its aggregator's report, is the global model, persisted.
  CHECK(ctx.global_model().tensors.front().tensor[0].item<float>() == 7.0f);
  CHECK(ctx.last_persisted("global").tensors.front().tensor[0].item<float>() == 7.0f);
  // The site whose received models validated best (site-3, 0.9) is asked for its best.
  bool asked = false;
  for (const auto& [site, name, round] : ctx.notified) asked |= site == "site-3" && name == "swarm_share_best";
  CHECK(asked);
  CHECK(ctx.last_persisted("best").tensors.front().tensor[0].item<float>() == 9.0f);
  // Every site validated the final model; its mean is the global model's figure.
  CHECK(ctx.tasks.back().task == "validate");
  CHECK(std::get<2>(ctx.metrics_rows.back()).at("accuracy") == doctest::Approx(0.8));
}

TEST_CASE("swarm controller: a first aggregator that is not connected, or no progress, fails the job") {
  cohort::JobInfo j{"job", "swarm", 2, 2, {}};
  SUBCASE("first aggregator") {
    FakeControllerContext ctx(j, {"site-1", "site-2"}, cohort::test::filled_model(0), validating());
    auto config = swarm_config(j, "first_aggregator = 'site-9'");
    CHECK_THROWS_WITH_AS(cohort::swarm::SwarmController(config).run(ctx),
                         "the first aggregator 'site-9' is not connected", cohort::JobError);
  }
  SUBCASE("aggregators leave nobody eligible") {
    FakeControllerContext ctx(j, {"site-1", "site-2"}, cohort::test::filled_model(0), validating());
    CHECK_THROWS_WITH_AS(cohort::swarm::SwarmController(swarm_config(j, "aggregators = ['site-7']")).run(ctx),
                         "no connected site may aggregate (aggregators)", cohort::JobError);
  }
  SUBCASE("progress timeout") {
    FakeControllerContext ctx(j, {"site-1", "site-2"}, cohort::test::filled_model(0), validating());
    auto config = swarm_config(j, "progress_timeout_s = 0.5\nmax_status_report_interval_s = 60");
    CHECK_THROWS_WITH_AS(cohort::swarm::SwarmController(config).run(ctx),
                         doctest::Contains("no Swarm round completed within 0.5"), cohort::JobError);
  }
}

TEST_CASE("swarm controller: resumed after a round, it hands the next round to the saved aggregator and sites") {
  cohort::JobInfo j{"job", "swarm", 3, 2, {}};
  const std::vector<std::string> sites{"site-1", "site-2", "site-3"};
  cohort::ControllerState state;
  {
    FakeControllerContext ctx(j, sites, cohort::test::filled_model(0), validating());
    ctx.reports = {report("site-2", "round_done", 0, {{"accuracy", 0.4}, {"best_accuracy", 0.5}},
                          cohort::test::filled_model(5), {{"next", "site-3"}, {"replied", "site-2,site-3"}})};
    cohort::swarm::SwarmController first(swarm_config(j, "seed = 3\nprogress_timeout_s = 1"));
    CHECK(first.resumable());
    CHECK_THROWS_AS(first.run(ctx), cohort::JobError);  // no round 1 in this test: no progress
    state = first.save_state(0);
  }
  FakeControllerContext ctx(j, sites, cohort::test::filled_model(5), validating());
  ctx.reports = {report("site-3", "round_done", 1, {}, cohort::test::filled_model(6), {{"next", "site-2"}, {"replied", "site-2,site-3"}}),
                 report("site-2", "round_done", 2, {}, cohort::test::filled_model(8), {{"next", ""}, {"replied", "site-2,site-3"}}),
                 report("site-2", "best", 3, {}, cohort::test::filled_model(9))};
  cohort::swarm::SwarmController resumed(swarm_config(j, "seed = 3\nprogress_timeout_s = 1"));
  resumed.restore_state(0, state);
  resumed.run(ctx);
  REQUIRE_FALSE(ctx.notified.empty());
  CHECK(ctx.notified.front() == std::make_tuple(std::string("site-3"), std::string("swarm_aggregate"), std::int64_t{1}));
  CHECK(ctx.rounds_ended == std::vector<std::int64_t>{1, 2});
  CHECK(ctx.global_model().tensors.front().tensor[0].item<float>() == 8.0f);
  // The best metric site-2 reported before the restart still picks it for the best model.
  bool asked = false;
  for (const auto& [site, name, round] : ctx.notified) asked |= site == "site-2" && name == "swarm_share_best";
  CHECK(asked);
}
