#include "cyclic.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace cohort::cyclic;

namespace {
const std::vector<std::string> kSites{"site-1", "site-2", "site-3", "site-4"};
}

TEST_CASE("cyclic order: fixed visits the active sites as they are") {
  std::mt19937_64 rng(1);
  CHECK((visiting_order(Order::fixed, kSites, {}, std::nullopt, rng) == kSites));
}

TEST_CASE("cyclic order: random visits every site once, in a changing order") {
  std::mt19937_64 rng(1);
  std::set<std::vector<std::string>> seen;
  for (int i = 0; i < 20; ++i) {
    auto order = visiting_order(Order::random, kSites, {}, std::nullopt, rng);
    CHECK((std::multiset<std::string>(order.begin(), order.end()) == std::multiset<std::string>(kSites.begin(), kSites.end())));
    seen.insert(order);
  }
  CHECK(seen.size() > 5);
}

TEST_CASE("cyclic order: random_no_repeat never starts with the previous round's last site") {
  std::mt19937_64 rng(7);
  std::optional<std::string> last;
  for (int i = 0; i < 200; ++i) {
    auto order = visiting_order(Order::random_no_repeat, kSites, {}, last, rng);
    if (last) CHECK(order.front() != *last);
    CHECK(order.size() == kSites.size());
    last = order.back();
  }
}

TEST_CASE("cyclic order: an explicit list is followed, repeats included") {
  std::mt19937_64 rng(1);
  const std::vector<std::string> explicit_sites{"site-3", "site-1", "site-3"};
  CHECK((visiting_order(Order::explicit_list, kSites, explicit_sites, std::nullopt, rng) == explicit_sites));
}
