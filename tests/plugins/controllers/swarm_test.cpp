#include "swarm.hpp"

#include <doctest/doctest.h>

#include <map>

using cohort::swarm::choose_aggregator;

TEST_CASE("swarm: the aggregator draw depends only on the eligible sites, the seed and the round") {
  const std::vector<std::string> sites{"site-3", "site-1", "site-2"};
  for (int round = 0; round < 20; ++round) {
    const auto a = choose_aggregator(sites, 7, round);
    CHECK(a == choose_aggregator({"site-1", "site-2", "site-3"}, 7, round));  // order of the list does not matter
    CHECK((a == "site-1" || a == "site-2" || a == "site-3"));
  }
}

TEST_CASE("swarm: every eligible site gets drawn, about equally") {
  std::map<std::string, int> counts;
  for (int round = 0; round < 3000; ++round) ++counts[choose_aggregator({"a", "b", "c"}, 1, round)];
  CHECK(counts.size() == 3);
  for (const auto& [site, n] : counts) CHECK(n > 800);
}

TEST_CASE("swarm: nobody eligible draws nobody") { CHECK(choose_aggregator({}, 0, 0).empty()); }
