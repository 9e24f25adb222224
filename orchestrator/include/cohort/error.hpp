#pragma once
/// @file error.hpp
/// Error types shared by the orchestrator and plugins. Each says what a caller can act on:
/// a ConfigError where the bad value is, an IoError which file, a ProtocolError which peer.
/// A command exits 2 on a ConfigError and 1 on the others (a startup kit that fails
/// verification: 3).

#include <cohort/export.hpp>

#include <filesystem>
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

/// A file or folder that cannot be read, written, created or found, or whose content is
/// not what it should be. what() starts with the path.
class COHORT_API IoError : public std::runtime_error {
 public:
  /// "FILE: message".
  IoError(std::filesystem::path file, const std::string& message);
  /// "FILE: cannot ACTION: strerror(error)", for a failed system call.
  static IoError from_errno(std::filesystem::path file, const std::string& action, int error);

  /// The file or folder.
  const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::filesystem::path file_;
};

/// A peer (a site, the server, a script) sent what the protocol does not allow. Where the
/// peer is known what() starts with it; a link that catches one closes itself, never more.
class COHORT_API ProtocolError : public std::runtime_error {
 public:
  /// A frame or field that is wrong whoever sent it (the link that reads it names the peer).
  explicit ProtocolError(const std::string& message);
  /// "PEER: message".
  ProtocolError(std::string peer, const std::string& message);

  /// Who sent it; empty when the thrower did not know.
  const std::string& peer() const noexcept { return peer_; }

 private:
  std::string peer_;
};

/// A job cannot go on (too few sites, a failed result beyond the error policy, ...).
/// The server ends the job as EXECUTION_EXCEPTION with this message.
class COHORT_API JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cohort
