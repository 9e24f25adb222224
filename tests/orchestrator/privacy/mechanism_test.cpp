#include "privacy/mechanism.hpp"

#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <doctest/doctest.h>

#include <cmath>

using cohort::Model;
using namespace cohort::privacy;

namespace {

Model two_tensors(std::vector<float> a, std::vector<float> b) {
  Model m;
  m.tensors.push_back({"a", at::tensor(a, at::kFloat)});
  m.tensors.push_back({"b", at::tensor(b, at::kFloat)});
  return m;
}

}  // namespace

TEST_CASE("clipping scales the update over all tensors together to the norm, exactly") {
  const Model reference = two_tensors({1, 1}, {1, 1});
  Model result = two_tensors({4, 1}, {1, 5});  // update (3, 0, 0, 4): norm 5
  CHECK(update_norm(result, reference) == doctest::Approx(5));
  CHECK(clip_update(result, reference, 2.5) == doctest::Approx(5));
  CHECK(result.tensors[0].tensor[0].item<float>() == doctest::Approx(2.5f));  // 1 + 3/2
  CHECK(result.tensors[0].tensor[1].item<float>() == 1.0f);
  CHECK(result.tensors[1].tensor[1].item<float>() == doctest::Approx(3.0f));  // 1 + 4/2
  CHECK(update_norm(result, reference) == doctest::Approx(2.5));

  Model small = two_tensors({1.3f, 1}, {1, 1});  // below the norm: untouched
  clip_update(small, reference, 2.5);
  CHECK(small.tensors[0].tensor[0].item<float>() == 1.3f);
}

TEST_CASE("an all-zero update is clipped without a division by zero, and integer tensors take the reference") {
  Model reference = two_tensors({1, 2}, {3, 4});
  reference.tensors.push_back({"count", at::tensor(std::vector<std::int64_t>{7}, at::kLong)});
  Model result = reference.clone();
  result.tensors[2].tensor.fill_(9);
  CHECK(clip_update(result, reference, 1.0) == 0);
  CHECK(result.tensors[0].tensor.equal(reference.tensors[0].tensor));
  CHECK(result.tensors[2].tensor.item<std::int64_t>() == 7);
  CHECK(!std::isnan(result.tensors[1].tensor.sum().item<float>()));
}

TEST_CASE("the noise has the standard deviation asked for, within 1 % over 10^7 draws, and mean 0") {
  constexpr std::int64_t n = 10'000'000;
  const double sigma = 0.7;
  at::Tensor t = at::zeros({n}, at::kDouble);
  GaussianNoise noise;  // seeded by the operating system
  noise.add(t, sigma);
  const double mean = t.mean().item<double>();
  const double stddev = t.std().item<double>();
  CHECK(std::abs(stddev - sigma) / sigma < 0.01);
  CHECK(std::abs(mean) < 3 * sigma / std::sqrt(static_cast<double>(n)));
}

TEST_CASE("a fixed seed gives the same noise, and the operating system's seeds differ") {
  at::Tensor a = at::zeros({1000}, at::kFloat), b = at::zeros({1000}, at::kFloat), c = at::zeros({1000}, at::kFloat);
  GaussianNoise(42).add(a, 1.0);
  GaussianNoise(42).add(b, 1.0);
  GaussianNoise().add(c, 1.0);
  CHECK(a.equal(b));
  CHECK(!a.equal(c));
  CHECK(os_random_seed() != os_random_seed());
}
