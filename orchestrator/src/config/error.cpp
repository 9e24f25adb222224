#include <cohort/error.hpp>

#include <cstring>

namespace cohort {

std::string SourceLocation::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

ConfigError::ConfigError(SourceLocation where, const std::string& message)
    : std::runtime_error(where.file.empty() ? message : where.str() + ": " + message),
      where_(std::move(where)),
      message_(message) {}

IoError::IoError(std::filesystem::path file, const std::string& message)
    : std::runtime_error(file.string() + ": " + message), file_(std::move(file)) {}

IoError IoError::from_errno(std::filesystem::path file, const std::string& action, int error) {
  return IoError(std::move(file), "cannot " + action + ": " + std::strerror(error));
}

ProtocolError::ProtocolError(const std::string& message) : std::runtime_error(message) {}

ProtocolError::ProtocolError(std::string peer, const std::string& message)
    : std::runtime_error(peer + ": " + message), peer_(std::move(peer)) {}

}  // namespace cohort
