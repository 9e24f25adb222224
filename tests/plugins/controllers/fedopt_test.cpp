// FedOpt's server step checked against each optimizer's formula, by hand.
#include "server_optimizer.hpp"

#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>

#include <doctest/doctest.h>

#include <cmath>

using namespace cohort::fedopt;
using cohort::Model;

namespace {

Model model_of(float value, const std::string& name = "w") {
  Model m;
  m.tensors.push_back({name, at::full({3}, value)});
  return m;
}

float first(const Model& m) { return m.tensors[0].tensor[0].item<float>(); }

OptimizerConfig config(OptimizerKind kind, double lr) {
  OptimizerConfig c;
  c.kind = kind;
  c.lr = lr;
  c.momentum = 0;
  return c;
}

}  // namespace

TEST_CASE("fedopt: SGD with lr 1 and no momentum is the average, exactly") {
  ServerOptimizer opt(config(OptimizerKind::sgd, 1.0));
  Model global = model_of(0.1f), average = model_of(0.3f);
  const auto* storage = average.tensors[0].tensor.data_ptr();
  Model next = opt.step(global, average, 0);
  CHECK(next.tensors[0].tensor.data_ptr() == storage);
  CHECK(first(next) == 0.3f);
}

TEST_CASE("fedopt: SGD with momentum") {
  auto c = config(OptimizerKind::sgd, 0.5);
  c.momentum = 0.6;
  ServerOptimizer opt(c);
  Model global = model_of(1.0f);
  // round 0: g = 1 - 0 = 1, buffer = g = 1, p = 1 - 0.5 * 1 = 0.5
  global = opt.step(global, model_of(0.0f), 0);
  CHECK(first(global) == doctest::Approx(0.5));
  // round 1: g = 0.5 - 0 = 0.5, buffer = 0.6 * 1 + 0.5 = 1.1, p = 0.5 - 0.5 * 1.1 = -0.05
  global = opt.step(global, model_of(0.0f), 1);
  CHECK(first(global) == doctest::Approx(-0.05));
}

TEST_CASE("fedopt: Adam (libtorch's, with bias correction)") {
  auto c = config(OptimizerKind::adam, 0.1);
  c.beta1 = 0.9;
  c.beta2 = 0.99;
  c.eps = 1e-3;
  ServerOptimizer opt(c);
  // g = 1: m = 0.1, v = 0.01; m^ = 1, v^ = 1; p = 1 - 0.1 * 1 / (1 + 1e-3)
  Model next = opt.step(model_of(1.0f), model_of(0.0f), 0);
  CHECK(first(next) == doctest::Approx(1.0 - 0.1 / 1.001).epsilon(1e-6));
  // g = p1 - 0.5: m = 0.9 * 0.1 + 0.1 g, v = 0.99 * 0.01 + 0.01 g^2, bias corrections 0.19 and 0.0199
  const double p1 = 1.0 - 0.1 / 1.001, g = p1 - 0.5;
  const double m = 0.09 + 0.1 * g, v = 0.0099 + 0.01 * g * g;
  const double expected = p1 - 0.1 * (m / 0.19) / (std::sqrt(v / (1 - 0.99 * 0.99)) + 1e-3);
  next = opt.step(next, model_of(0.5f), 1);
  CHECK(first(next) == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("fedopt: Adagrad") {
  auto c = config(OptimizerKind::adagrad, 0.1);
  c.eps = 1e-3;
  c.initial_accumulator = 0.5;
  ServerOptimizer opt(c);
  // g = 2: sum = 0.5 + 4; p = 1 - 0.1 * 2 / (sqrt(4.5) + 1e-3)
  Model next = opt.step(model_of(1.0f), model_of(-1.0f), 0);
  CHECK(first(next) == doctest::Approx(1.0 - 0.2 / (std::sqrt(4.5) + 1e-3)).epsilon(1e-6));
}

TEST_CASE("fedopt: Yogi, against its formula") {
  auto c = config(OptimizerKind::yogi, 0.1);
  c.beta1 = 0.9;
  c.beta2 = 0.99;
  c.eps = 1e-3;
  c.initial_accumulator = 1e-6;
  ServerOptimizer opt(c);
  double p = 1.0, m = 0, v = 1e-6;
  Model global = model_of(1.0f);
  for (float avg : {0.0f, 0.5f, 0.9f}) {
    const double g = p - avg;
    m = 0.9 * m + 0.1 * g;
    v = v - 0.01 * g * g * ((v - g * g) > 0 ? 1 : (v - g * g) < 0 ? -1 : 0);
    p = p - 0.1 * m / (std::sqrt(v) + 1e-3);
    global = opt.step(global, model_of(avg), 0);
    CHECK(first(global) == doctest::Approx(p).epsilon(1e-5));
  }
}

TEST_CASE("fedopt: buffers take the average, parameters are stepped") {
  auto c = config(OptimizerKind::sgd, 0.5);
  ServerOptimizer opt(c);
  Model global = model_of(1.0f, "fc.weight");
  global.tensors.push_back({"bn.running_mean", at::full({3}, 1.0f)});
  global.tensors.push_back({"bn.num_batches_tracked", at::full({1}, 4, at::kLong)});
  Model average = model_of(0.0f, "fc.weight");
  average.tensors.push_back({"bn.running_mean", at::full({3}, 7.0f)});
  average.tensors.push_back({"bn.num_batches_tracked", at::full({1}, 9, at::kLong)});
  Model next = opt.step(global, average, 0);
  CHECK(next.tensors[0].tensor[0].item<float>() == doctest::Approx(0.5));
  CHECK(next.tensors[1].tensor[0].item<float>() == 7.0f);
  CHECK(next.tensors[2].tensor[0].item<std::int64_t>() == 9);
}

TEST_CASE("fedopt: learning-rate schedules") {
  OptimizerConfig c;
  c.lr = 1.0;
  c.scheduler = SchedulerKind::step;
  c.step_size = 2;
  c.gamma = 0.5;
  CHECK(learning_rate(c, 0) == 1.0);
  CHECK(learning_rate(c, 1) == 1.0);
  CHECK(learning_rate(c, 2) == 0.5);
  CHECK(learning_rate(c, 5) == 0.25);
  c.scheduler = SchedulerKind::cosine;
  c.t_max = 10;
  c.eta_min = 0.1;
  CHECK(learning_rate(c, 0) == doctest::Approx(1.0));
  CHECK(learning_rate(c, 5) == doctest::Approx(0.55));
  CHECK(learning_rate(c, 10) == doctest::Approx(0.1));
}

TEST_CASE("fedopt: each optimizer's state carried over a restart steps on exactly as without") {
  for (const auto kind : {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::adagrad, OptimizerKind::yogi}) {
    CAPTURE(static_cast<int>(kind));
    auto c = config(kind, 0.1);
    if (kind == OptimizerKind::sgd) c.momentum = 0.6;
    const auto average = [](int round) { return model_of(0.25f * static_cast<float>(round + 1)); };
    // Four rounds in one go.
    ServerOptimizer whole(c);
    Model straight = model_of(1.0f);
    for (int r = 0; r < 4; ++r) straight = whole.step(straight, average(r), r);
    // Two rounds, the state saved (as on disk: copies), then a new optimizer goes on.
    ServerOptimizer first(c);
    Model global = model_of(1.0f);
    for (int r = 0; r < 2; ++r) global = first.step(global, average(r), r);
    cohort::ControllerState state;
    first.save_state(state);
    CHECK_FALSE(state.tensors.tensors.empty());
    for (auto& t : state.tensors.tensors) t.tensor = t.tensor.clone();
    ServerOptimizer resumed(c);
    resumed.restore_state(state);
    Model restored = global.clone();
    for (int r = 2; r < 4; ++r) restored = resumed.step(restored, average(r), r);
    CHECK(at::equal(restored.tensors[0].tensor, straight.tensors[0].tensor));
  }
}
