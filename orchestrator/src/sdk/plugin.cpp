#include <cohort/plugin.hpp>

#include <dlfcn.h>

#include <iterator>

namespace cohort {

std::string_view to_string(PluginKind kind) {
  static constexpr std::string_view kNames[] = {"unknown", "controller", "executor", "hook"};
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : kNames[0];
}

std::filesystem::path sdk_directory() {
  Dl_info info{};
  const auto symbol = static_cast<std::string_view (*)(PluginKind)>(&to_string);
  if (::dladdr(reinterpret_cast<void*>(symbol), &info) == 0 || !info.dli_fname) return {};
  return std::filesystem::path(info.dli_fname).parent_path();
}

}  // namespace cohort
