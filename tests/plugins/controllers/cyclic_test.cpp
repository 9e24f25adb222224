#include "cyclic.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace cohort::cyclic;

namespace {
const std::vector<std::string> kSites{"site-1", "site-2", "site-3", "site-4"};
}

TEST_CASE("cyclic order: fixed visits the active sites as they are") {
  std::mt19937_64 rng(1);
  CHECK((visiting_order(Order::fixed, kSites, {}, std::nullopt, rng) == kSites));
}

TEST_CASE("cyclic order: random visits every site once, in a changing order") {
  std::mt19937_64 rng(1);
  std::set<std::vector<std::string>> seen;
  for (int i = 0; i < 20; ++i) {
    auto order = visiting_order(Order::random, kSites, {}, std::nullopt, rng);
    CHECK((std::multiset<std::string>(order.begin(), order.end()) == std::multiset<std::string>(kSites.begin(), kSites.end())));
    seen.insert(order);
  }
  CHECK(seen.size() > 5);
}

TEST_CASE("cyclic order: random_no_repeat never starts with the previous round's last site") {
  std::mt19937_64 rng(7);
  std::optional<std::string> last;
  for (int i = 0; i < 200; ++i) {
    auto order = visiting_order(Order::random_no_repeat, kSites, {}, last, rng);
    if (last) CHECK(order.front() != *last);
    CHECK(order.size() == kSites.size());
    last = order.back();
  }
}

TEST_CASE("cyclic order: an explicit list is followed, repeats included") {
  std::mt19937_64 rng(1);
  const std::vector<std::string> explicit_sites{"site-3", "site-1", "site-3"};
  CHECK((visiting_order(Order::explicit_list, kSites, explicit_sites, std::nullopt, rng) == explicit_sites));
}

// ---- Cyclic's run() against an in-memory context -----------------------------------

#include "support/fake_controller_context.hpp"

namespace {

using cohort::test::FakeControllerContext;

cohort::JobInfo job(std::int64_t rounds) {
  cohort::JobInfo j;
  j.id = "job";
  j.num_rounds = rounds;
  j.min_clients = 2;
  return j;
}

/// Each site adds 1 to the model it gets; `fails` fails its task.
FakeControllerContext::Behaviour relay(std::vector<std::string>* visits, const std::string& fails = "") {
  return [visits, fails](const std::string& site, const cohort::Task& task) {
    FakeControllerContext::Answer a;
    if (visits) visits->push_back(site + ":" + task.name);
    if (site == fails) return FakeControllerContext::Answer{false, "executor failed", {}, {}, {}};
    if (task.name == "train") {
      a.model = task.model.clone();
      for (auto& t : a.model.tensors) t.tensor.add_(1.0f);
    }
    a.metrics = {{"accuracy", 0.5}};
    return a;
  };
}

std::unique_ptr<Cyclic> cyclic(const cohort::JobInfo& j, const std::string& args) {
  const auto a = cohort::test::controller_args(args);
  auto config = parse_config(a, j);
  a.finish();
  return std::make_unique<Cyclic>(std::move(config));
}

}  // namespace

TEST_CASE("cyclic run: the model travels through every site each round, then every site validates it") {
  std::vector<std::string> visits;
  FakeControllerContext ctx(job(2), {"a", "b", "c"}, cohort::test::filled_model(0), relay(&visits));
  cyclic(job(2), "")->run(ctx);
  CHECK(visits == std::vector<std::string>{"a:train", "b:train", "c:train", "a:train", "b:train", "c:train",
                                           "a:validate", "b:validate", "c:validate"});
  CHECK(ctx.global_model().tensors.front().tensor[0].item<float>() == 6.0f);
  CHECK(ctx.rounds_ended == std::vector<std::int64_t>{0, 1});
}

TEST_CASE("cyclic run: a failing site is skipped and the model goes on from the last success") {
  FakeControllerContext ctx(job(1), {"a", "b", "c"}, cohort::test::filled_model(0), relay(nullptr, "b"));
  cyclic(job(1), "final_validation = false")->run(ctx);
  CHECK(ctx.global_model().tensors.front().tensor[0].item<float>() == 2.0f);
}

TEST_CASE("cyclic run: fewer than 2 sites, a missing site of an explicit order, or no success fail the job") {
  SUBCASE("one site") {
    FakeControllerContext ctx(job(1), {"a"}, cohort::test::filled_model(0), relay(nullptr));
    CHECK_THROWS_WITH_AS(cyclic(job(1), "")->run(ctx), "round 0: Cyclic needs at least 2 active sites, 1 connected",
                         cohort::JobError);
  }
  SUBCASE("explicit order") {
    FakeControllerContext ctx(job(1), {"a", "b"}, cohort::test::filled_model(0), relay(nullptr));
    CHECK_THROWS_WITH_AS(cyclic(job(1), "order = 'explicit'\nsites = ['a', 'z']")->run(ctx),
                         "round 0: site 'z' of the explicit order is not connected", cohort::JobError);
  }
  SUBCASE("every site fails") {
    auto fail_all = [](const std::string&, const cohort::Task&) {
      return FakeControllerContext::Answer{false, "no", {}, {}, {}};
    };
    FakeControllerContext ctx(job(1), {"a", "b"}, cohort::test::filled_model(0), fail_all);
    CHECK_THROWS_WITH_AS(cyclic(job(1), "")->run(ctx), "round 0: no site completed its task", cohort::JobError);
  }
}

TEST_CASE("cyclic run: restored after round 1, a random order goes on exactly as without the restart") {
  std::vector<std::string> whole, before, after;
  {
    FakeControllerContext ctx(job(4), {"a", "b", "c", "d"}, cohort::test::filled_model(0), relay(&whole));
    cyclic(job(4), "order = 'random'\nfinal_validation = false")->run(ctx);
  }
  cohort::ControllerState state;
  {
    FakeControllerContext ctx(job(2), {"a", "b", "c", "d"}, cohort::test::filled_model(0), relay(&before));
    auto first = cyclic(job(2), "order = 'random'\nfinal_validation = false");
    first->run(ctx);
    state = first->save_state(1);
  }
  {
    FakeControllerContext ctx(job(4), {"a", "b", "c", "d"}, cohort::test::filled_model(0), relay(&after));
    auto resumed = cyclic(job(4), "order = 'random'\nfinal_validation = false");
    CHECK(resumed->resumable());
    resumed->restore_state(1, state);
    resumed->run(ctx);
    CHECK(ctx.rounds_ended == std::vector<std::int64_t>{2, 3});
  }
  REQUIRE(whole.size() == 16);
  CHECK(std::vector<std::string>(whole.begin(), whole.begin() + 8) == before);
  CHECK(std::vector<std::string>(whole.begin() + 8, whole.end()) == after);
}
