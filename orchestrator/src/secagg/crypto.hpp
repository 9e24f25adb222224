#pragma once
// The primitives of secure aggregation, each a thin wrapper of OpenSSL (no hand-written
// cryptography): X25519 key agreement (RFC 7748), HKDF-SHA-256 (RFC 5869), the
// ChaCha20-Poly1305 AEAD (RFC 8439) that seals a share for its holder, and the mask
// stream: AES-256-CTR's keystream read as little-endian 32-bit words, added to or
// subtracted from a vector modulo 2^32.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace cohort::secagg {

using Bytes = std::vector<std::uint8_t>;

/// A key, a seed or a shared secret: 32 bytes.
inline constexpr std::size_t kKeyBytes = 32;

/// OpenSSL refused an operation (what and why).
class CryptoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KeyPair {
  Bytes private_key;  ///< 32 bytes
  Bytes public_key;   ///< 32 bytes
};

/// A fresh X25519 key pair from OpenSSL's generator.
KeyPair generate_key_pair();
/// The key pair of a given private key (tests: RFC 7748's vectors).
KeyPair key_pair_of(const Bytes& private_key);
/// X25519(private_key, peer_public): the 32-byte shared secret. Throws CryptoError for a
/// key that is not 32 bytes or a peer key that gives the all-zero secret.
Bytes agree(const Bytes& private_key, const Bytes& peer_public);

/// HKDF-SHA-256: `length` bytes from `ikm`, `salt` (may be empty) and `info`.
Bytes hkdf(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt, std::string_view info,
           std::size_t length);

/// `n` bytes from OpenSSL's cryptographic generator.
Bytes random_bytes(std::size_t n);

/// ChaCha20-Poly1305 with a 32-byte key: the ciphertext followed by the 16-byte tag.
Bytes seal(const Bytes& key, std::span<const std::uint8_t> nonce, std::string_view aad,
           std::span<const std::uint8_t> plaintext);
/// The plaintext, or nothing when the tag does not match (tampered, another key or aad).
std::optional<Bytes> open(const Bytes& key, std::span<const std::uint8_t> nonce, std::string_view aad,
                          std::span<const std::uint8_t> sealed);
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::size_t kTagBytes = 16;

/// A mask: the keystream of AES-256-CTR under a 32-byte key (IV zero), as little-endian
/// 32-bit words, in order. Each call goes on where the last one stopped.
class MaskStream {
 public:
  explicit MaskStream(const Bytes& key);
  ~MaskStream();
  MaskStream(const MaskStream&) = delete;
  MaskStream& operator=(const MaskStream&) = delete;

  /// values[i] += next word (mod 2^32).
  void add_to(std::span<std::uint32_t> values);
  /// values[i] -= next word (mod 2^32).
  void subtract_from(std::span<std::uint32_t> values);
  /// The next words themselves.
  void generate(std::span<std::uint32_t> out);

 private:
  template <class Op>
  void apply(std::span<std::uint32_t> values, Op op);
  struct Cipher;
  std::unique_ptr<Cipher> cipher_;
};

}  // namespace cohort::secagg
