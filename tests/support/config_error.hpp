#pragma once
// The message of the ConfigError a piece of code throws: what the configuration tests
// compare with the FILE:LINE:COL (or `--set`) message a user would read.

#include <cohort/error.hpp>

#include <functional>
#include <string>

namespace cohort::test {

/// What `f` throws as a ConfigError, or "no error".
inline std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace cohort::test
