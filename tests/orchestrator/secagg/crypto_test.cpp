#include "secagg/crypto.hpp"
#include "secagg/shamir.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace cohort::secagg;

namespace {

Bytes hex(const std::string& text) {
  Bytes out;
  for (std::size_t i = 0; i < text.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  return out;
}

std::string bytes_text(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

TEST_CASE("X25519 gives RFC 7748's public keys and shared secret (section 6.1)") {
  const auto alice = key_pair_of(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  const auto bob = key_pair_of(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  CHECK(alice.public_key == hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  CHECK(bob.public_key == hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  const Bytes shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(agree(alice.private_key, bob.public_key) == shared);
  CHECK(agree(bob.private_key, alice.public_key) == shared);
  // A key of the wrong size and a small-order point are refused.
  CHECK_THROWS_AS(agree(alice.private_key, Bytes(31, 1)), CryptoError);
  CHECK_THROWS_AS(agree(alice.private_key, Bytes(32, 0)), CryptoError);
  // Fresh pairs differ.
  CHECK(generate_key_pair().private_key != generate_key_pair().private_key);
}

TEST_CASE("HKDF-SHA-256 gives RFC 5869's test case 1") {
  const Bytes ikm(22, 0x0b);
  const Bytes salt = hex("000102030405060708090a0b0c");
  const Bytes info = hex("f0f1f2f3f4f5f6f7f8f9");
  CHECK(hkdf(ikm, salt, bytes_text(info), 42) ==
        hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
}

TEST_CASE("ChaCha20-Poly1305 gives RFC 8439's AEAD vector (section 2.8.2) and refuses what was changed") {
  Bytes key;
  for (int i = 0x80; i < 0xa0; ++i) key.push_back(static_cast<std::uint8_t>(i));
  const Bytes nonce = hex("070000004041424344454647");
  const std::string aad = bytes_text(hex("50515253c0c1c2c3c4c5c6c7"));
  const std::string text = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
  const Bytes plain(text.begin(), text.end());
  const Bytes sealed = seal(key, nonce, aad, plain);
  CHECK(sealed == hex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
                      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7"
                      "bc3ff4def08e4b7a9de576d26586cec64b6116" "1ae10b594f09e26a7e902ecbd0600691"));
  CHECK(open(key, nonce, aad, sealed) == plain);
  Bytes tampered = sealed;
  tampered[5] ^= 1;
  CHECK_FALSE(open(key, nonce, aad, tampered));
  CHECK_FALSE(open(key, nonce, aad + "x", sealed));  // another destination or round
  Bytes other = key;
  other[0] ^= 1;
  CHECK_FALSE(open(other, nonce, aad, sealed));
}

TEST_CASE("a mask stream is deterministic per key, differs between keys, and adding then subtracting restores") {
  const Bytes a(32, 7), b(32, 8);
  std::vector<std::uint32_t> x(100000), y(100000), z(100000);
  MaskStream(a).generate(x);
  // Two calls go on where the first stopped: the same words as one call.
  MaskStream split_stream(a);
  split_stream.generate(std::span(y).first(12345));
  split_stream.generate(std::span(y).subspan(12345));
  CHECK(x == y);
  MaskStream(b).generate(z);
  CHECK(x != z);
  std::vector<std::uint32_t> v(100000, 42);
  MaskStream(a).add_to(v);
  CHECK(v != std::vector<std::uint32_t>(100000, 42));
  MaskStream(a).subtract_from(v);
  CHECK(v == std::vector<std::uint32_t>(100000, 42));
}

TEST_CASE("Shamir: any t of n shares rebuild the secret, t - 1 do not") {
  const Bytes secret = random_bytes(32);
  for (std::size_t t : {1u, 2u, 3u, 5u}) {
    const std::size_t n = 7;
    auto shares = split(secret, t, n);
    REQUIRE(shares.size() == n);
    // Every window of t consecutive shares (and the last t, reversed) rebuilds it.
    for (std::size_t first = 0; first + t <= n; ++first) {
      std::vector<Share> some(shares.begin() + static_cast<long>(first), shares.begin() + static_cast<long>(first + t));
      CHECK(combine(some, t, 32) == secret);
    }
    std::vector<Share> reversed(shares.rbegin(), shares.rbegin() + static_cast<long>(t));
    CHECK(combine(reversed, t, 32) == secret);
    if (t > 1) {
      // t − 1 shares interpolated as if they were enough give something else.
      std::vector<Share> fewer(shares.begin(), shares.begin() + static_cast<long>(t - 1));
      CHECK(combine(fewer, t - 1, 32) != secret);
      CHECK_THROWS_AS(combine(fewer, t, 32), std::invalid_argument);
    }
  }
  // A share survives its bytes; a repeated point is refused.
  auto shares = split(secret, 2, 3);
  CHECK(decode(encode(shares[1])).y == shares[1].y);
  CHECK_THROWS_AS(combine({shares[0], shares[0]}, 2, 32), std::invalid_argument);
  CHECK_THROWS_AS(decode(Bytes(5, 0)), std::invalid_argument);
  CHECK_THROWS_AS(split(secret, 4, 3), std::invalid_argument);
}
