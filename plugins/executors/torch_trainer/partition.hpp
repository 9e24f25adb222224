#pragma once
// Which samples a site trains on: IID shards or a Dirichlet(alpha) label skew, fixed by
// a seed so that every process computes the same partition for the same site index.

#include <cstdint>
#include <string>
#include <vector>

namespace cohort::trainer {

enum class PartitionMode { iid, dirichlet };

/// Indices of the samples of site `site_index` among `num_sites`. `labels` holds one class
/// id (0..num_classes-1) per sample. The shards of all sites partition the samples.
std::vector<std::int64_t> partition(const std::vector<std::int64_t>& labels, std::int64_t num_classes,
                                    std::int64_t num_sites, std::int64_t site_index,
                                    PartitionMode mode, double alpha, std::uint64_t seed);

}  // namespace cohort::trainer
