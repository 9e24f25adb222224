#pragma once
// What the runtime makes of the options a server and a client process share
// (process::ProcessLaunch): the plugin search path, the chunk size, the process's logger.

#include "process/command_line.hpp"
#include "process/launch.hpp"

#include <filesystem>
#include <memory>
#include <vector>

namespace cohort::runtime {

/// The plugin search path: --plugin-path first, then the default folders.
std::vector<std::filesystem::path> plugin_dirs(const process::ProcessLaunch& p);

/// The transfer chunk size in bytes.
inline std::size_t chunk_bytes(const process::ProcessLaunch& p) { return static_cast<std::size_t>(p.chunk_kib) * 1024; }

/// The process's logger: the console plus --log-file, by default
/// <workspace>/logs/<process name>.log.
std::shared_ptr<spdlog::logger> process_logger(const process::ProcessLaunch& p, const process::GlobalOptions& global);

}  // namespace cohort::runtime
