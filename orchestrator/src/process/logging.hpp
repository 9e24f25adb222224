#pragma once
// Process logging: console (stderr) plus a log file per process.

#include <spdlog/logger.h>

#include <filesystem>
#include <memory>
#include <string>

namespace cohort::process {

/// The global logging flags.
struct LogOptions {
  bool verbose = false;
  /// trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  /// The process's log file (none when empty).
  std::filesystem::path file;
};

/// The spdlog level named `name`; throws std::invalid_argument listing the valid names.
spdlog::level::level_enum parse_level(const std::string& name);

/// Creates the process logger named `process`: console plus `options.file` when set.
std::shared_ptr<spdlog::logger> make_logger(const std::string& process, const LogOptions& options);

/// A logger sharing `parent`'s sinks plus a file of its own (a job's log).
std::shared_ptr<spdlog::logger> make_child_logger(const std::shared_ptr<spdlog::logger>& parent,
                                                  const std::string& name,
                                                  const std::filesystem::path& file);

}  // namespace cohort::process
