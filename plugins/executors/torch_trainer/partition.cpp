#include "partition.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace cohort::trainer {

std::vector<std::int64_t> partition(const std::vector<std::int64_t>& labels, std::int64_t num_classes,
                                    std::int64_t num_sites, std::int64_t site_index,
                                    PartitionMode mode, double alpha, std::uint64_t seed) {
  if (num_sites <= 0 || site_index < 0 || site_index >= num_sites)
    throw std::invalid_argument("site index " + std::to_string(site_index) + " is not in [0, " +
                                std::to_string(num_sites) + ")");
  std::mt19937_64 rng(seed);
  const auto n = static_cast<std::int64_t>(labels.size());
  std::vector<std::int64_t> out;
  if (mode == PartitionMode::iid) {
    std::vector<std::int64_t> all(labels.size());
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    const std::int64_t begin = n * site_index / num_sites;
    const std::int64_t end = n * (site_index + 1) / num_sites;
    out.assign(all.begin() + begin, all.begin() + end);
  } else {
    // For each class, Dirichlet(alpha) proportions over the sites (normalised Gamma draws)
    // split that class's shuffled samples.
    std::vector<std::vector<std::int64_t>> by_class(num_classes);
    for (std::int64_t i = 0; i < n; ++i) by_class.at(labels[i]).push_back(i);
    std::gamma_distribution<double> gamma(alpha, 1.0);
    for (auto& members : by_class) {
      std::shuffle(members.begin(), members.end(), rng);
      std::vector<double> share(num_sites);
      for (auto& s : share) s = gamma(rng);
      const double total = std::accumulate(share.begin(), share.end(), 0.0);
      double before = 0;
      for (std::int64_t s = 0; s < site_index; ++s) before += share[s];
      const auto size = static_cast<double>(members.size());
      auto begin = static_cast<std::int64_t>(std::llround(size * before / total));
      auto end = static_cast<std::int64_t>(std::llround(size * (before + share[site_index]) / total));
      if (site_index == num_sites - 1) end = static_cast<std::int64_t>(members.size());
      out.insert(out.end(), members.begin() + begin, members.begin() + end);
    }
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace cohort::trainer
