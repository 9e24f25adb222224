#include "secagg/shamir.hpp"

#include <set>
#include <stdexcept>
#include <string>

namespace cohort::secagg {

namespace {

constexpr std::uint64_t kPrime = (std::uint64_t{1} << 61) - 1;
constexpr std::size_t kPieceBytes = 7;

std::uint64_t reduce(unsigned __int128 v) {
  // 2^61 ≡ 1 (mod p): fold the high bits onto the low ones.
  std::uint64_t r = static_cast<std::uint64_t>(v & kPrime) + static_cast<std::uint64_t>(v >> 61);
  r = (r & kPrime) + (r >> 61);
  return r >= kPrime ? r - kPrime : r;
}

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return reduce(static_cast<unsigned __int128>(a) + b); }
std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : a + kPrime - b; }
std::uint64_t mul(std::uint64_t a, std::uint64_t b) { return reduce(static_cast<unsigned __int128>(a) * b); }

std::uint64_t power(std::uint64_t base, std::uint64_t exponent) {
  std::uint64_t result = 1;
  for (; exponent > 0; exponent >>= 1, base = mul(base, base))
    if (exponent & 1) result = mul(result, base);
  return result;
}

std::uint64_t inverse(std::uint64_t a) { return power(a, kPrime - 2); }  // Fermat

/// A uniform element of the field (61 random bits, drawn again when not below p).
std::uint64_t random_element() {
  for (;;) {
    const Bytes b = random_bytes(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    v &= kPrime;
    if (v < kPrime) return v;
  }
}

std::size_t pieces(std::size_t secret_bytes) { return (secret_bytes + kPieceBytes - 1) / kPieceBytes; }

}  // namespace

std::vector<Share> split(const Bytes& secret, std::size_t threshold, std::size_t count) {
  if (threshold < 1 || threshold > count)
    throw std::invalid_argument("a threshold of " + std::to_string(threshold) + " for " + std::to_string(count) + " shares");
  std::vector<Share> shares(count);
  for (std::size_t i = 0; i < count; ++i) shares[i].x = static_cast<std::uint32_t>(i + 1);
  for (std::size_t p = 0; p < pieces(secret.size()); ++p) {
    std::uint64_t piece = 0;
    for (std::size_t b = 0; b < kPieceBytes && p * kPieceBytes + b < secret.size(); ++b)
      piece |= static_cast<std::uint64_t>(secret[p * kPieceBytes + b]) << (8 * b);
    std::vector<std::uint64_t> coefficients{piece};
    for (std::size_t k = 1; k < threshold; ++k) coefficients.push_back(random_element());
    for (auto& share : shares) {
      std::uint64_t y = 0;  // Horner's rule
      for (auto c = coefficients.rbegin(); c != coefficients.rend(); ++c) y = add(mul(y, share.x), *c);
      share.y.push_back(y);
    }
  }
  return shares;
}

Bytes combine(const std::vector<Share>& shares, std::size_t threshold, std::size_t secret_bytes) {
  if (threshold < 1 || shares.size() < threshold)
    throw std::invalid_argument(std::to_string(shares.size()) + " shares, " + std::to_string(threshold) + " needed");
  std::set<std::uint32_t> points;
  for (std::size_t i = 0; i < threshold; ++i) {
    if (shares[i].x == 0 || !points.insert(shares[i].x).second)
      throw std::invalid_argument("shares of a repeated or zero point");
    if (shares[i].y.size() != pieces(secret_bytes)) throw std::invalid_argument("a share of another length");
  }
  // Lagrange's basis at 0: l_i = Π_{j≠i} x_j / (x_j − x_i).
  std::vector<std::uint64_t> basis(threshold);
  for (std::size_t i = 0; i < threshold; ++i) {
    std::uint64_t num = 1, den = 1;
    for (std::size_t j = 0; j < threshold; ++j) {
      if (j == i) continue;
      num = mul(num, shares[j].x);
      den = mul(den, sub(shares[j].x, shares[i].x));
    }
    basis[i] = mul(num, inverse(den));
  }
  Bytes secret(secret_bytes);
  for (std::size_t p = 0; p < pieces(secret_bytes); ++p) {
    std::uint64_t piece = 0;
    for (std::size_t i = 0; i < threshold; ++i) piece = add(piece, mul(basis[i], shares[i].y[p]));
    for (std::size_t b = 0; b < kPieceBytes && p * kPieceBytes + b < secret_bytes; ++b)
      secret[p * kPieceBytes + b] = static_cast<std::uint8_t>(piece >> (8 * b));
  }
  return secret;
}

Bytes encode(const Share& share) {
  Bytes out;
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<std::uint8_t>(share.x >> (8 * b)));
  for (std::uint64_t y : share.y)
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::uint8_t>(y >> (8 * b)));
  return out;
}

Share decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 4 || (bytes.size() - 4) % 8 != 0) throw std::invalid_argument("not a share: " + std::to_string(bytes.size()) + " bytes");
  Share share;
  for (int b = 0; b < 4; ++b) share.x |= static_cast<std::uint32_t>(bytes[b]) << (8 * b);
  for (std::size_t at = 4; at < bytes.size(); at += 8) {
    std::uint64_t y = 0;
    for (int b = 0; b < 8; ++b) y |= static_cast<std::uint64_t>(bytes[at + b]) << (8 * b);
    if (y >= kPrime) throw std::invalid_argument("not a share: a value outside the field");
    share.y.push_back(y);
  }
  return share;
}

}  // namespace cohort::secagg
