#pragma once
// A fuzz target: LLVMFuzzerTestOneInput, run by libFuzzer (`make fuzz`, a clang build
// with -DCOHORT_FUZZ=ON) or by replay_main.cpp over the committed corpus (`make test`).
// An invariant that fails aborts with a message: libFuzzer keeps the input as a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#define COHORT_FUZZ_REQUIRE(condition, what)                                                    \
  do {                                                                                         \
    if (!(condition)) ::cohort::fuzz::fail(__FILE__, __LINE__, #condition, (what));            \
  } while (false)

namespace cohort::fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* condition, const std::string& what) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s: %s\n", file, line, condition, what.c_str());
  std::abort();
}

}  // namespace cohort::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
