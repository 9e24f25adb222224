#include "privacy/accountant.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace cohort::privacy {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// log(exp(a) + exp(b)).
double log_add(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double hi = std::max(a, b);
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

/// log(exp(a) - exp(b)), a >= b.
double log_sub(double a, double b) {
  if (b == -kInf) return a;
  if (a <= b) return -kInf;
  const double d = a - b;
  return d > 700 ? a : std::log(std::expm1(d)) + b;
}

/// log(erfc(x)), also where erfc(x) underflows (x beyond about 26).
double log_erfc(double x) {
  const double e = std::erfc(x);
  if (e > 0) return std::log(e);
  // The asymptotic series: erfc(x) = exp(-x²) / (x √π) · (1 - 1/(2x²) + 3/(4x⁴) - ...).
  const double x2 = x * x;
  return -x2 - std::log(x) - 0.5 * std::log(M_PI) + std::log1p(-0.5 / x2 + 0.75 / (x2 * x2));
}

/// log(A_α) for an integer order: A_α = Σ_i C(α, i) q^i (1-q)^(α-i) exp((i² - i) / (2 z²)).
double log_a_integer(double q, double z, int alpha) {
  double log_a = -kInf;
  for (int i = 0; i <= alpha; ++i) {
    const double log_binom = std::lgamma(alpha + 1.0) - std::lgamma(i + 1.0) - std::lgamma(alpha - i + 1.0);
    const double log_coef = log_binom + i * std::log(q) + (alpha - i) * std::log1p(-q);
    log_a = log_add(log_a, log_coef + (static_cast<double>(i) * i - i) / (2 * z * z));
  }
  return log_a;
}

/// log(A_α) for a fractional order: the two series of Mironov et al. (2019), Section 3.3,
/// summed until their terms fall below e^-30.
double log_a_fractional(double q, double z, double alpha) {
  double log_a0 = -kInf, log_a1 = -kInf;
  const double z0 = z * z * std::log(1 / q - 1) + 0.5;
  double coef = 1;  // C(α, i), the generalized binomial coefficient, built term by term
  for (int i = 0;; ++i) {
    if (i > 0) coef *= (alpha - (i - 1)) / i;
    const double j = alpha - i;
    const double log_coef = std::log(std::abs(coef));
    const double log_t0 = log_coef + i * std::log(q) + j * std::log1p(-q);
    const double log_t1 = log_coef + j * std::log(q) + i * std::log1p(-q);
    const double log_e0 = std::log(0.5) + log_erfc((i - z0) / (std::sqrt(2.0) * z));
    const double log_e1 = std::log(0.5) + log_erfc((z0 - j) / (std::sqrt(2.0) * z));
    const double log_s0 = log_t0 + (static_cast<double>(i) * i - i) / (2 * z * z) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2 * z * z) + log_e1;
    if (coef > 0) {
      log_a0 = log_add(log_a0, log_s0);
      log_a1 = log_add(log_a1, log_s1);
    } else {
      log_a0 = log_sub(log_a0, log_s0);
      log_a1 = log_sub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < -30 || i > 10000) break;
  }
  return log_add(log_a0, log_a1);
}

}  // namespace

std::string exact_text(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

double read_exact(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw std::invalid_argument(what + " '" + text + "' is malformed");
  return value;
}

double sampled_gaussian_rdp(double q, double z, double order) {
  if (q <= 0) return 0;
  if (z <= 0) return kInf;
  if (q >= 1) return order / (2 * z * z);
  const double log_a = order == std::floor(order) ? log_a_integer(q, z, static_cast<int>(order))
                                                  : log_a_fractional(q, z, order);
  return log_a / (order - 1);
}

const std::vector<double>& RdpAccountant::orders() {
  static const std::vector<double> all = [] {
    std::vector<double> v;
    for (int x = 1; x < 100; ++x) v.push_back(1 + x / 10.0);
    for (int a = 12; a < 64; ++a) v.push_back(a);
    return v;
  }();
  return all;
}

void RdpAccountant::add(double q, double z, std::int64_t steps) {
  if (steps <= 0) return;
  const auto& a = orders();
  for (std::size_t i = 0; i < a.size(); ++i) rdp_[i] += static_cast<double>(steps) * sampled_gaussian_rdp(q, z, a[i]);
}

RdpAccountant RdpAccountant::after(double q, double z, std::int64_t steps) const {
  RdpAccountant next = *this;
  next.add(q, z, steps);
  return next;
}

bool RdpAccountant::empty() const {
  return std::all_of(rdp_.begin(), rdp_.end(), [](double r) { return r == 0; });
}

RdpAccountant::Spent rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp, double delta) {
  RdpAccountant::Spent best{kInf, 0};
  for (std::size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    double eps = rdp[i] - (std::log(delta) + std::log(a)) / (a - 1) + std::log((a - 1) / a);
    if (std::isnan(eps)) eps = kInf;
    if (eps < best.epsilon) best = {eps, a};
  }
  if (best.epsilon < 0) best.epsilon = 0;
  return best;
}

RdpAccountant::Spent RdpAccountant::spent(double delta) const {
  if (empty()) return {0, 0};
  return rdp_to_epsilon(orders(), rdp_, delta);
}

std::string RdpAccountant::save() const {
  std::ostringstream out;
  for (std::size_t i = 0; i < rdp_.size(); ++i) out << (i ? " " : "") << exact_text(rdp_[i]);
  return out.str();
}

RdpAccountant RdpAccountant::restore(const std::string& text) {
  RdpAccountant account;
  std::istringstream in(text);
  std::string word;
  std::size_t i = 0;
  while (in >> word) {
    const double value = read_exact(word, "the privacy account's number");
    if (i >= account.rdp_.size() || !(value >= 0))
      throw std::invalid_argument("the privacy account '" + text.substr(0, 40) + "...' is malformed");
    account.rdp_[i++] = value;
  }
  if (i != account.rdp_.size())
    throw std::invalid_argument("the privacy account has " + std::to_string(i) + " orders, not " +
                                std::to_string(account.rdp_.size()));
  return account;
}

double solve_noise_multiplier(double target_epsilon, double delta, double q, std::int64_t steps) {
  auto epsilon = [&](double z) { return RdpAccountant().after(q, z, steps).epsilon(delta); };
  double lo = 0.01, hi = 10000;
  if (epsilon(hi) > target_epsilon) {
    char text[160];
    std::snprintf(text, sizeof text, "no noise multiplier up to %g keeps %lld steps at q = %g within ε = %g, δ = %g",
                  hi, static_cast<long long>(steps), q, target_epsilon, delta);
    throw std::invalid_argument(text);
  }
  if (epsilon(lo) <= target_epsilon) return lo;
  while (hi / lo > 1.001) {
    const double mid = std::sqrt(lo * hi);
    (epsilon(mid) <= target_epsilon ? hi : lo) = mid;
  }
  return hi;
}

}  // namespace cohort::privacy
