#include "runtime/process_options.hpp"

#include "plugin/registry.hpp"

namespace cohort::runtime {

std::vector<std::filesystem::path> plugin_dirs(const process::ProcessLaunch& p) {
  std::vector<std::filesystem::path> dirs(p.plugin_paths.begin(), p.plugin_paths.end());
  for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
  return dirs;
}

std::shared_ptr<spdlog::logger> process_logger(const process::ProcessLaunch& p, const process::GlobalOptions& global) {
  process::LogOptions options = global.log;
  if (options.file.empty()) options.file = std::filesystem::path(p.workspace) / "logs" / (p.process_name + ".log");
  return process::make_logger(p.process_name, options);
}

}  // namespace cohort::runtime
