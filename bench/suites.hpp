#pragma once
// The benchmark suites; each returns its rows of the results table.

#include "harness.hpp"

namespace cohort::bench {

std::vector<Row> server_memory(const Context& ctx);
std::vector<Row> drift(const Context& ctx);

}  // namespace cohort::bench
