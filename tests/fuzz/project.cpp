// A project file: it either loads or raises a ConfigError with a line and column inside
// the file.
#include "config_location.hpp"

#include "provisioning/project.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    cohort::provisioning::parse_project(text, "project.toml");
  } catch (const cohort::ConfigError& e) {
    cohort::fuzz::require_located(e, text, "project.toml");
  }
  return 0;
}
