#include "fedavg.hpp"

#include <doctest/doctest.h>

using namespace cohort::fedavg;

TEST_CASE("fedavg: stop conditions parse and evaluate") {
  auto c = parse_stop_condition("accuracy >= 0.9");
  REQUIRE(c);
  CHECK(c->metric == "accuracy");
  CHECK(c->met(0.9));
  CHECK_FALSE(c->met(0.89));
  CHECK(parse_stop_condition("loss < 0.1")->met(0.05));
  CHECK_FALSE(parse_stop_condition(""));
}

TEST_CASE("fedavg: malformed stop conditions say what is wrong") {
  CHECK_THROWS_WITH(parse_stop_condition("accuracy"), "expected \"<metric> <op> <value>\", e.g. \"accuracy >= 0.9\"");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy == 1"), "operator '==' is not one of >=, >, <=, <");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy > high"), "'high' is not a number");
  CHECK_THROWS_WITH(parse_stop_condition("accuracy > 1 extra"),
                    "expected \"<metric> <op> <value>\", e.g. \"accuracy >= 0.9\"");
}
