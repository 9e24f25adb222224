#pragma once
// An address a process listens on for HTTP (metrics, the dashboard): "HOST:PORT" with an IP
// address ("127.0.0.1:9400", "[::1]:9400", "0.0.0.0:9400"). No I/O: the project file, the
// kits and the commands check it before anything binds.

#include <cohort/export.hpp>

#include <cstdint>
#include <string>

namespace cohort::config {

struct COHORT_API ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  /// "HOST:PORT" again (an IPv6 host in brackets).
  std::string text() const;
};

/// Reads "HOST:PORT" (port 0, any free one, only with `any_port`); throws
/// std::invalid_argument saying what is wrong (the caller adds where it was written).
COHORT_API ListenAddress parse_listen_address(const std::string& text, bool any_port = false);

}  // namespace cohort::config
