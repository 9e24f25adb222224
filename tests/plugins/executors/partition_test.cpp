#include "partition.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <stdexcept>

using namespace cohort::trainer;

namespace {

std::vector<std::int64_t> labels(std::int64_t n) {
  std::vector<std::int64_t> out(n);
  for (std::int64_t i = 0; i < n; ++i) out[i] = i % 10;
  return out;
}

void check_partitions_everything(PartitionMode mode, double alpha) {
  const auto l = labels(1000);
  std::set<std::int64_t> seen;
  std::size_t total = 0;
  for (std::int64_t site = 0; site < 4; ++site) {
    auto part = partition(l, 10, 4, site, mode, alpha, 7);
    total += part.size();
    seen.insert(part.begin(), part.end());
    CHECK((part == partition(l, 10, 4, site, mode, alpha, 7)));  // same seed, same shard
  }
  CHECK(total == 1000);        // disjoint
  CHECK(seen.size() == 1000);  // covering
}

}  // namespace

TEST_CASE("partition: IID shards are disjoint, cover the data and depend only on the seed") {
  check_partitions_everything(PartitionMode::iid, 0);
  const auto l = labels(1000);
  CHECK((partition(l, 10, 4, 0, PartitionMode::iid, 0, 7) != partition(l, 10, 4, 0, PartitionMode::iid, 0, 8)));
}

TEST_CASE("partition: Dirichlet shards are disjoint and cover the data") {
  check_partitions_everything(PartitionMode::dirichlet, 0.5);
}

TEST_CASE("partition: a small alpha skews the labels of a site") {
  const auto l = labels(10000);
  auto part = partition(l, 10, 5, 0, PartitionMode::dirichlet, 0.05, 1);
  std::vector<int> per_class(10, 0);
  for (auto i : part) ++per_class[l[i]];
  const int top = *std::max_element(per_class.begin(), per_class.end());
  CHECK(top > static_cast<int>(part.size()) / 5);  // IID would give about a tenth
}

TEST_CASE("partition: a site index outside the job is an error") {
  CHECK_THROWS_AS(partition(labels(10), 10, 2, 2, PartitionMode::iid, 0, 0), std::invalid_argument);
}
