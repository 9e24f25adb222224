#pragma once
// Fault injection for the integration tests, kept out of the transport: an observer of
// outgoing model bytes (ConnectionOptions::on_model_bytes) that kills the process.

#include "net/connection.hpp"

#include <memory>

namespace spdlog {
class logger;
}

namespace cohort::net {

/// With COHORT_FAULT_KILL_AFTER_UPLOAD_BYTES=N in the environment: an observer that, once
/// N model bytes are written, cuts the stream there, gives the peer a moment to read what
/// was written, and kills this process with SIGKILL (a client dying mid-upload). Empty
/// without the variable.
ModelBytesObserver kill_after_upload_bytes_from_environment(std::shared_ptr<spdlog::logger> log);

}  // namespace cohort::net
