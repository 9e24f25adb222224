#pragma once
// The bytes this process's links wrote and read, whatever carries them: every transport
// counts what it moves here (frames and model bytes alike), for the process's metrics.

#include <cstdint>

namespace cohort::net {

/// Bytes written to peers so far, by every link of this process.
std::uint64_t bytes_sent();
/// Bytes read from peers so far.
std::uint64_t bytes_received();
/// A transport moved `bytes`.
void count_sent(std::uint64_t bytes);
void count_received(std::uint64_t bytes);

}  // namespace cohort::net
