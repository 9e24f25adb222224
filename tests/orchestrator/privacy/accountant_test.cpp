#include "privacy/accountant.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

using cohort::privacy::RdpAccountant;
using cohort::privacy::rdp_to_epsilon;
using cohort::privacy::sampled_gaussian_rdp;
using cohort::privacy::solve_noise_multiplier;

namespace {

/// A_α by numerical integration, independent of the series the accountant sums:
/// E_{x ~ N(0, z²)} [((1 − q) + q·exp((2x − 1) / (2z²)))^α].
double rdp_by_integration(double q, double z, double alpha) {
  const double step = z / 2000, lo = -40 * z, hi = 40 * z + 1;
  double sum = 0;
  for (double x = lo; x <= hi; x += step) {
    const double log_density = -x * x / (2 * z * z) - std::log(z * std::sqrt(2 * M_PI));
    const double log_ratio = std::log((1 - q) + q * std::exp((2 * x - 1) / (2 * z * z)));
    sum += std::exp(log_density + alpha * log_ratio) * step;
  }
  return std::log(sum) / (alpha - 1);
}

}  // namespace

TEST_CASE("the accountant gives the ε of Opacus's documented example") {
  // (q = 1e-5, z = 1.0) × 10 steps, then (q = 1e-4, z = 3.0) × 4, at orders 2 … 32, δ = 1e-5:
  // ε ≈ 0.336 at order 23.
  std::vector<double> orders, rdp;
  for (int a = 2; a <= 32; ++a) {
    orders.push_back(a);
    rdp.push_back(10 * sampled_gaussian_rdp(1e-5, 1.0, a) + 4 * sampled_gaussian_rdp(1e-4, 3.0, a));
  }
  const auto spent = rdp_to_epsilon(orders, rdp, 1e-5);
  CHECK(spent.epsilon == doctest::Approx(0.336).epsilon(0.005));
  CHECK(spent.order == 23);
}

TEST_CASE("without sampling the account is the Gaussian mechanism's, in closed form") {
  // q = 1: RDP α / (2z²) per step; 50 steps of z = 2 at δ = 1e-6, by the conversion's formula.
  RdpAccountant account;
  account.add(1.0, 2.0, 50);
  double best = INFINITY;
  for (double a : RdpAccountant::orders()) {
    const double eps = 50 * a / 8 - (std::log(1e-6) + std::log(a)) / (a - 1) + std::log((a - 1) / a);
    best = std::min(best, eps);
  }
  CHECK(account.epsilon(1e-6) == doctest::Approx(best).epsilon(1e-12));
}

TEST_CASE("the sampled Gaussian's RDP matches a numerical integral at integer and fractional orders") {
  struct Case {
    double q, z, alpha;
  };
  for (const auto& [q, z, alpha] : std::vector<Case>{
           {0.05, 1.0, 2}, {0.1, 0.8, 8}, {0.01, 1.5, 32}, {0.25, 1.2, 3.5}, {0.05, 1.0, 1.7}, {0.1, 2.0, 10.9}}) {
    CAPTURE(q);
    CAPTURE(z);
    CAPTURE(alpha);
    CHECK(sampled_gaussian_rdp(q, z, alpha) == doctest::Approx(rdp_by_integration(q, z, alpha)).epsilon(1e-4));
  }
}

TEST_CASE("an account is 0 before a step, infinite without noise, and more steps spend more") {
  RdpAccountant account;
  CHECK(account.epsilon(1e-5) == 0);
  CHECK(std::isinf(RdpAccountant().after(0.1, 0.0).epsilon(1e-5)));
  account.add(0.1, 1.0, 10);
  const double ten = account.epsilon(1e-5);
  CHECK(account.after(0.1, 1.0, 10).epsilon(1e-5) > ten);
  CHECK(account.epsilon(1e-5) == ten);  // after() leaves it as it was
}

TEST_CASE("an account saved and restored gives the same ε, bit for bit") {
  RdpAccountant account;
  account.add(0.25, 1.1, 7);
  account.add(0.2, 0.9, 3);
  const auto back = RdpAccountant::restore(account.save());
  CHECK(back.epsilon(1e-5) == account.epsilon(1e-5));
  CHECK(back.save() == account.save());
  CHECK_THROWS_AS(RdpAccountant::restore("0x1p+0 nonsense"), std::invalid_argument);
  CHECK_THROWS_AS(RdpAccountant::restore("0x1p+0"), std::invalid_argument);
}

TEST_CASE("the noise multiplier solved for a budget meets it, and a smaller one does not") {
  const double z = solve_noise_multiplier(2.0, 1e-5, 0.1, 100);
  CHECK(RdpAccountant().after(0.1, z, 100).epsilon(1e-5) <= 2.0);
  CHECK(RdpAccountant().after(0.1, z / 1.01, 100).epsilon(1e-5) > 2.0);
  CHECK_THROWS_AS(solve_noise_multiplier(1e-9, 1e-5, 1.0, 1000000), std::invalid_argument);
}
