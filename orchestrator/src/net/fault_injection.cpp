#include "net/fault_injection.hpp"

#include <spdlog/logger.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

namespace cohort::net {

ModelBytesObserver kill_after_upload_bytes_from_environment(std::shared_ptr<spdlog::logger> log) {
  const char* value = std::getenv("COHORT_FAULT_KILL_AFTER_UPLOAD_BYTES");
  if (!value || !*value) return {};
  const std::uint64_t limit = std::stoull(value);
  return [limit, log](std::uint64_t written, const std::function<void()>& cut) {
    if (written < limit) return;
    // Cut the stream here (FIN after the bytes written so far), give the peer a moment to
    // read them, then die. A bare SIGKILL would reset the connection and the peer would
    // lose a kernel-dependent part of what was written: same cut, less exact.
    log->warn("fault injection: cutting the stream and killing this process after {} model bytes", written);
    log->flush();
    cut();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::raise(SIGKILL);
  };
}

}  // namespace cohort::net
