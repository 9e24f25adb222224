#pragma once
// What the configuration targets check of a ConfigError: it names the file it was given,
// and a line and column inside that file's text.
#include "fuzz_target.hpp"

#include <cohort/error.hpp>

#include <string_view>

namespace cohort::fuzz {

inline void require_located(const ConfigError& e, std::string_view text, const std::string& file) {
  const auto& where = e.where();
  COHORT_FUZZ_REQUIRE(where.file == file, std::string("the error names ") + file + ": " + e.what());
  int lines = 1;
  for (char c : text) lines += c == '\n';
  COHORT_FUZZ_REQUIRE(where.line >= 1 && where.line <= lines && where.column >= 1,
                      std::string("the error has a line and column inside the file: ") + e.what());
}

}  // namespace cohort::fuzz
