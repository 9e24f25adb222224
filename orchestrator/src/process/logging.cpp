#include "process/logging.hpp"

#include <cohort/error.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <stdexcept>

namespace cohort::process {

spdlog::level::level_enum parse_level(const std::string& name) {
  for (int i = spdlog::level::trace; i < spdlog::level::n_levels; ++i) {
    auto level = static_cast<spdlog::level::level_enum>(i);
    if (spdlog::level::to_string_view(level) == name) return level;
  }
  throw ConfigError({"--log-level"}, "unknown log level '" + name +
                              "': expected trace, debug, info, warn, error, critical or off");
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& process, const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^[%H:%M:%S] [%n] [%l]%$ %v");
  sinks.push_back(console);
  if (!options.file.empty()) {
    if (options.file.has_parent_path()) std::filesystem::create_directories(options.file.parent_path());
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file.string());
    file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%P:%t] [%l] %v");
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>(process, sinks.begin(), sinks.end());
  auto level = options.verbose ? spdlog::level::debug : parse_level(options.level);
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::shared_ptr<spdlog::logger> make_child_logger(const std::shared_ptr<spdlog::logger>& parent,
                                                  const std::string& name,
                                                  const std::filesystem::path& file) {
  std::vector<spdlog::sink_ptr> sinks = parent->sinks();
  if (!file.empty()) {
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%P:%t] [%l] %v");
    sinks.push_back(sink);
  }
  auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  logger->set_level(parent->level());
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace cohort::process
