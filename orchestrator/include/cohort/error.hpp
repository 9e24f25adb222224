#pragma once
/// @file error.hpp
/// Error types shared by the orchestrator and plugins.

#include <cohort/export.hpp>

#include <stdexcept>
#include <string>

namespace cohort {

/// A position in a configuration file. Lines and columns are 1-based; 0 means unknown.
struct COHORT_API SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  /// "file:line:col", or just "file" when the position is unknown.
  std::string str() const;
};

/// A bad configuration value. what() starts with "file:line:col: " so that a user
/// can jump to the spot; message() is the part after the location.
class COHORT_API ConfigError : public std::runtime_error {
 public:
  /// Builds the error for `message` found at `where`.
  ConfigError(SourceLocation where, const std::string& message);

  /// Where the bad value is.
  const SourceLocation& where() const noexcept { return where_; }
  /// What is wrong, without the location prefix.
  const std::string& message() const noexcept { return message_; }

 private:
  SourceLocation where_;
  std::string message_;
};

/// A job cannot go on (too few sites, a failed result beyond the error policy, ...).
/// The server ends the job as EXECUTION_EXCEPTION with this message.
class COHORT_API JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cohort
