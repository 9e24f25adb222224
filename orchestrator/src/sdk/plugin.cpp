#include <cohort/plugin.hpp>

#include <iterator>

namespace cohort {

std::string_view to_string(PluginKind kind) {
  static constexpr std::string_view kNames[] = {"unknown", "controller", "executor", "hook"};
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : kNames[0];
}

}  // namespace cohort
