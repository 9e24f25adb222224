#include "privacy/job_privacy.hpp"

#include "support/temp_dir.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <doctest/doctest.h>

#include <cmath>

using cohort::Model;
using cohort::ResultInfo;
using cohort::WeightedAverage;
using cohort::config::PrivacySettings;
using namespace cohort::privacy;

namespace {

spdlog::logger& quiet() {
  static spdlog::logger log("privacy-test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

Model model_of(float a, float b) {
  Model m;
  m.tensors.push_back({"w", at::full({3}, a, at::kFloat)});
  m.tensors.push_back({"v", at::full({1}, b, at::kFloat)});
  m.tensors.push_back({"count", at::full({1}, 5, at::kLong)});
  return m;
}

PrivacySettings central(double clip, double z) {
  PrivacySettings s;
  s.mode = PrivacySettings::Mode::central;
  s.clip_at = PrivacySettings::ClipAt::server;
  s.clipping_norm = clip;
  s.noise_multiplier = z;
  s.target_delta = 1e-5;
  return s;
}

}  // namespace

TEST_CASE("clipping at the server folds each update clipped, divided by the sites sampled") {
  cohort::test::TempDir dir;
  const Model global = model_of(1, 1);
  JobPrivacy job(central(1.0, 0.0), 100, 5, dir.path(), quiet());
  WeightedAverage average(global, {});
  auto mechanism = job.begin_average(global, 4, 0);
  average.set_privacy(mechanism);
  // Site A: update (2, 2, 2, 0) → norm √12, clipped to 1: each element 1/√3.
  cohort::feed(average, ResultInfo{"a", 0, 30, {}}, model_of(3, 1), 8);
  // Site B: update (0, 0, 0, 0.5) → within the norm, unchanged. Its integer tensor is ignored.
  Model b = model_of(1, 1.5f);
  b.tensors[2].tensor.fill_(99);
  cohort::feed(average, ResultInfo{"b", 0, 1, {}}, b, 4);
  // Two of the four sampled sites sent nothing: they count as no update.
  const Model out = average.result(global);
  job.end_average(0, {"a", "b", "c", "d"}, mechanism.get());
  CHECK(out.tensors[0].tensor[0].item<float>() == doctest::Approx(1 + (1 / std::sqrt(3.0)) / 4));
  CHECK(out.tensors[1].tensor[0].item<float>() == doctest::Approx(1 + 0.5 / 4));
  CHECK(out.tensors[2].tensor[0].item<std::int64_t>() == 5);
  CHECK(mechanism->clipped_results() == 2);
  CHECK(mechanism->at_or_below_norm() == 1);
  CHECK(global.tensors[0].tensor[0].item<float>() == 1);  // the reference is not touched
}

TEST_CASE("the noise of a central average has standard deviation z·C/m") {
  cohort::test::TempDir dir;
  Model global;
  global.tensors.push_back({"w", at::zeros({1000000}, at::kFloat)});
  auto settings = central(2.0, 1.5);
  settings.clip_at = PrivacySettings::ClipAt::site;
  JobPrivacy job(settings, 1000, 5, dir.path(), quiet());
  WeightedAverage average(global, {});
  average.set_privacy(job.begin_average(global, 10, 0));
  const Model out = average.result(global);
  CHECK(out.tensors[0].tensor.std().item<double>() == doctest::Approx(1.5 * 2.0 / 10).epsilon(0.01));
  CHECK(job.task_meta(0).count(kClipMeta) == 1);
  CHECK(job.task_meta(0).count(kNoiseMeta) == 0);
}

TEST_CASE("adaptive clipping, without noise, converges to the chosen quantile of the update norms") {
  cohort::test::TempDir dir;
  Model global;
  global.tensors.push_back({"w", at::zeros({1}, at::kFloat)});
  auto settings = central(0.1, 0.0);
  settings.adaptive = true;
  settings.target_quantile = 0.3;
  settings.clip_learning_rate = 0.2;
  JobPrivacy job(settings, 1000, 400, dir.path(), quiet());
  // Ten sites whose updates have norms 1, 2, ..., 10: the 0.3 quantile lies between 3 and 4.
  for (std::int64_t round = 0; round < 400; ++round) {
    WeightedAverage average(global, {});
    auto mechanism = job.begin_average(global, 10, round);
    average.set_privacy(mechanism);
    std::vector<std::string> sites;
    for (int k = 1; k <= 10; ++k) {
      Model result;
      result.tensors.push_back({"w", at::full({1}, static_cast<float>(k), at::kFloat)});
      cohort::feed(average, ResultInfo{"site-" + std::to_string(k), round, 1, {}}, result);
      sites.push_back("site-" + std::to_string(k));
    }
    average.result(global);
    job.end_average(round, sites, mechanism.get());
  }
  CHECK(job.clipping_norm() >= 3.0);
  CHECK(job.clipping_norm() <= 4.0);
}

TEST_CASE("local mode: the site clips and noises its own update, and ε counts the site's own steps") {
  cohort::test::TempDir dir;
  PrivacySettings settings = central(1.0, 2.0);
  settings.mode = PrivacySettings::Mode::local;
  settings.seed = 7;
  JobPrivacy job(settings, 10, 3, dir.path(), quiet());
  const Model global = model_of(0, 0);
  CHECK(job.begin_average(global, 2, 0) == nullptr);
  const auto meta = job.task_meta(0);
  Model result = model_of(30, 40);
  CHECK(apply_site_privacy(result, global, meta, 1));
  // Clipped to norm 1, then N(0, (z·C)²) noise on each of 4 elements: far from the 50 it was.
  CHECK(std::abs(result.tensors[1].tensor[0].item<float>()) < 15);
  CHECK(result.tensors[2].tensor[0].item<std::int64_t>() == 5);
  job.end_average(0, {"site-1", "site-2"}, nullptr);
  job.end_average(1, {"site-1"}, nullptr);
  CHECK(job.epsilon() == RdpAccountant().after(1.0, 2.0, 2).epsilon(1e-5));
}

TEST_CASE("a job's privacy state restores bit for bit, and the budget stops the job before it is passed") {
  cohort::test::TempDir dir;
  auto settings = central(1.0, 1.0);
  settings.target_epsilon = 6.0;
  JobPrivacy job(settings, 20, 100, dir.path(), quiet());
  const Model global = model_of(0, 0);
  std::int64_t round = 0;
  for (; round < 100 && !job.budget_reached_after(round - 1); ++round) {
    auto mechanism = job.begin_average(global, 5, round);
    job.end_average(round, {"a", "b", "c", "d", "e"}, mechanism.get());
  }
  CHECK(round < 100);
  CHECK(job.epsilon() <= 6.0);
  CHECK(round == 7);  // ε after 7 steps of q = 0.25, z = 1 is 5.95; an 8th would make it 6.25
  CHECK(job.refuses(5).has_value());
  JobPrivacy again(settings, 20, 100, dir.path(), quiet());
  again.restore(job.save());
  CHECK(again.epsilon() == job.epsilon());
  CHECK(again.save() == job.save());
}

TEST_CASE("δ at or above 1 / sites is refused") {
  cohort::test::TempDir dir;
  auto settings = central(1.0, 1.0);
  settings.target_delta = 0.1;
  CHECK_THROWS_AS(JobPrivacy(settings, 10, 5, dir.path(), quiet()), cohort::ConfigError);
}
