#pragma once
// What a server and a client process both take on their command line: where they write,
// their name, the plugin search path, the transfer chunk size, plain TCP, a startup kit.

#include "process/command_line.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cohort::runtime {

struct ProcessOptions {
  /// A process named `name` by default.
  explicit ProcessOptions(std::string name) : process_name(std::move(name)) {}

  std::string workspace = ".";
  /// Name in logs and memory files.
  std::string process_name;
  bool insecure = false;
  std::vector<std::string> plugin_paths;
  std::int64_t chunk_kib = 1024;
  /// A startup kit to run from (empty: none).
  std::string kit;

  /// Adds --workspace, --process-name, --insecure, -p/--plugin-path, --chunk-kib and --kit
  /// (described by `kit_help`) to `cmd`.
  void add_to(CLI::App& cmd, const std::string& kit_help);
  /// The plugin search path: --plugin-path first, then the default folders.
  std::vector<std::filesystem::path> plugin_dirs() const;
  /// Chunk size in bytes.
  std::size_t chunk_bytes() const { return static_cast<std::size_t>(chunk_kib) * 1024; }
  /// The process's logger: the console plus --log-file, by default
  /// <workspace>/logs/<process name>.log.
  std::shared_ptr<spdlog::logger> logger(const process::GlobalOptions& global) const;
};

}  // namespace cohort::runtime
