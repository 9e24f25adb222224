#pragma once
// The privacy account of a job: Rényi differential privacy (RDP) of the sampled Gaussian
// mechanism (Mironov, Talwar and Zhang, 2019), summed over the steps a job took, and
// converted to (ε, δ) by Balle et al. (2020), Theorem 21. The orders and the conversion
// are those of Opacus's RDP accountant, so an ε here can be checked against it.
// No libtorch: pure arithmetic, used by the recipe check and by the server.

#include <cstdint>
#include <string>
#include <vector>

namespace cohort::privacy {

/// `value` as a hexadecimal floating-point literal (%a): text that reads back bit for bit
/// (the privacy state in a job's resume record).
std::string exact_text(double value);
/// What exact_text() wrote; throws std::invalid_argument saying `what` was malformed.
double read_exact(const std::string& text, const std::string& what);

/// RDP of order `order` of one step of the sampled Gaussian mechanism: each record
/// (here: each site) is in the step with probability `q`, and Gaussian noise of `z` times
/// the sensitivity is added. 0 for q = 0; infinite for z = 0 (no noise) with q > 0.
double sampled_gaussian_rdp(double q, double z, double order);

/// Sums the RDP of the steps a job took, at every order.
class RdpAccountant {
 public:
  /// The orders the account is kept at: 1.1, 1.2, ..., 10.9 and 12, 13, ..., 63.
  static const std::vector<double>& orders();

  /// `steps` more steps sampled with probability `q` and noise multiplier `z`.
  void add(double q, double z, std::int64_t steps = 1);
  /// The account after `steps` more such steps (this one unchanged).
  RdpAccountant after(double q, double z, std::int64_t steps = 1) const;

  struct Spent {
    double epsilon = 0;
    double order = 0;  ///< the order at which ε is least
  };
  /// The least ε over the orders at which the steps so far are (ε, δ)-DP.
  Spent spent(double delta) const;
  double epsilon(double delta) const { return spent(delta).epsilon; }
  /// True when no step has been taken.
  bool empty() const;

  /// The account as text that restore() reads back bit for bit (the resume state).
  std::string save() const;
  /// Throws std::invalid_argument when `text` is not what save() writes.
  static RdpAccountant restore(const std::string& text);

 private:
  std::vector<double> rdp_ = std::vector<double>(orders().size(), 0.0);
};

/// The least ε, over `orders`, of a mechanism whose RDP at orders[i] is rdp[i]: (ε, δ)-DP by
/// Balle et al. (2020), Theorem 21. Never negative; infinite where every order is.
RdpAccountant::Spent rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp, double delta);

/// The smallest noise multiplier z (to 0.1 %) for which `steps` steps sampled with
/// probability `q` stay within (target_epsilon, delta). Throws std::invalid_argument when
/// no z up to 10,000 does.
double solve_noise_multiplier(double target_epsilon, double delta, double q, std::int64_t steps);

}  // namespace cohort::privacy
