#include "net/traffic.hpp"

#include <atomic>

namespace cohort::net {

namespace {
std::atomic<std::uint64_t> sent{0};
std::atomic<std::uint64_t> received{0};
}  // namespace

std::uint64_t bytes_sent() { return sent.load(std::memory_order_relaxed); }
std::uint64_t bytes_received() { return received.load(std::memory_order_relaxed); }
void count_sent(std::uint64_t bytes) { sent.fetch_add(bytes, std::memory_order_relaxed); }
void count_received(std::uint64_t bytes) { received.fetch_add(bytes, std::memory_order_relaxed); }

}  // namespace cohort::net
