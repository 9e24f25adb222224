#include "runtime/process_options.hpp"

#include "plugin/registry.hpp"

namespace cohort::runtime {

void ProcessOptions::add_to(CLI::App& cmd, const std::string& kit_help) {
  cmd.add_option("--workspace", workspace, "Folder for jobs, logs and memory files")->capture_default_str();
  cmd.add_option("--process-name", process_name, "Name in logs and memory files")->capture_default_str();
  cmd.add_flag("--insecure", insecure, "Plain TCP instead of mutual TLS (local experiments only)");
  cmd.add_option("-p,--plugin-path", plugin_paths, "Search DIR for plugins before the defaults");
  cmd.add_option("--chunk-kib", chunk_kib, "Transfer chunk size in KiB")->capture_default_str()->check(process::at_least(1));
  cmd.add_option("--kit", kit, kit_help)->check(process::existing_folder());
}

std::vector<std::filesystem::path> ProcessOptions::plugin_dirs() const {
  std::vector<std::filesystem::path> dirs(plugin_paths.begin(), plugin_paths.end());
  for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
  return dirs;
}

std::shared_ptr<spdlog::logger> ProcessOptions::logger(const process::GlobalOptions& global) const {
  process::LogOptions options = global.log;
  if (options.file.empty()) options.file = std::filesystem::path(workspace) / "logs" / (process_name + ".log");
  return process::make_logger(process_name, options);
}

}  // namespace cohort::runtime
