#include <cohort/plugin.hpp>

namespace cohort {

std::string_view to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::controller: return "controller";
    case PluginKind::executor: return "executor";
    case PluginKind::hook: return "hook";
  }
  return "unknown";
}

}  // namespace cohort
