#pragma once
// Shamir's secret sharing over the prime field of p = 2^61 − 1: a secret of bytes is cut
// into 7-byte pieces (each below p), and each piece is the constant term of its own random
// polynomial of degree threshold − 1; share x holds every polynomial's value at x. Any
// `threshold` shares rebuild the secret (Lagrange interpolation at 0); fewer say nothing
// of it. The coefficients come from OpenSSL's generator.

#include "secagg/crypto.hpp"

#include <cstdint>
#include <vector>

namespace cohort::secagg {

struct Share {
  /// The point, 1..count.
  std::uint32_t x = 0;
  /// One value a piece of the secret.
  std::vector<std::uint64_t> y;
};

/// `count` shares of `secret`, any `threshold` of which rebuild it (1 <= threshold <= count).
std::vector<Share> split(const Bytes& secret, std::size_t threshold, std::size_t count);

/// The secret of `secret_bytes` bytes from shares of distinct points (the first
/// `threshold` are used). Throws std::invalid_argument for fewer shares, repeated points
/// or shares of different lengths.
Bytes combine(const std::vector<Share>& shares, std::size_t threshold, std::size_t secret_bytes);

/// A share as bytes (x, then each value, little-endian) and back; decode throws
/// std::invalid_argument for bytes that are not a share.
Bytes encode(const Share& share);
Share decode(std::span<const std::uint8_t> bytes);

}  // namespace cohort::secagg
