#include "secagg/crypto.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace cohort::secagg {

namespace {

[[noreturn]] void fail(const std::string& what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = "no reason given";
  if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  throw CryptoError(what + ": " + reason);
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

void check_key(const Bytes& key, const char* what) {
  if (key.size() != kKeyBytes)
    throw CryptoError(std::string(what) + " has " + std::to_string(key.size()) + " bytes, not " + std::to_string(kKeyBytes));
}

Bytes raw_public(EVP_PKEY* key) {
  Bytes out(kKeyBytes);
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, out.data(), &len) != 1 || len != kKeyBytes) fail("X25519 public key");
  return out;
}

Pkey private_key(const Bytes& key) {
  check_key(key, "an X25519 private key");
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, key.data(), key.size()));
  if (!pkey) fail("X25519 private key");
  return pkey;
}

CipherCtx cipher_context() {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) fail("cipher context");
  return ctx;
}

}  // namespace

KeyPair generate_key_pair() { return key_pair_of(random_bytes(kKeyBytes)); }

KeyPair key_pair_of(const Bytes& key) {
  Pkey pkey = private_key(key);
  return KeyPair{key, raw_public(pkey.get())};
}

Bytes agree(const Bytes& own_private, const Bytes& peer_public) {
  check_key(peer_public, "an X25519 public key");
  Pkey own = private_key(own_private);
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), peer_public.size()));
  if (!peer) fail("X25519 public key");
  PkeyCtx ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
  Bytes secret(kKeyBytes);
  std::size_t len = secret.size();
  // OpenSSL refuses a peer key whose secret is all zeros (a small-order point).
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1 || len != kKeyBytes)
    fail("X25519 key agreement");
  return secret;
}

Bytes hkdf(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt, std::string_view info,
           std::size_t length) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  Bytes out(length);
  std::size_t len = length;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      // No salt: RFC 5869's default (a hash's length of zeros), which OpenSSL applies unset.
      (!salt.empty() && EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), salt.data(), static_cast<int>(salt.size())) != 1) ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), ikm.data(), static_cast<int>(ikm.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                  static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != length)
    fail("HKDF-SHA-256");
  return out;
}

Bytes random_bytes(std::size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) fail("random bytes");
  return out;
}

Bytes seal(const Bytes& key, std::span<const std::uint8_t> nonce, std::string_view aad,
           std::span<const std::uint8_t> plaintext) {
  check_key(key, "a ChaCha20-Poly1305 key");
  if (nonce.size() != kNonceBytes) throw CryptoError("a ChaCha20-Poly1305 nonce has 12 bytes");
  CipherCtx ctx = cipher_context();
  Bytes out(plaintext.size() + kTagBytes);
  int len = 0;
  int total = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    fail("ChaCha20-Poly1305 seal");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagBytes, out.data() + plaintext.size()) != 1)
    fail("ChaCha20-Poly1305 seal");
  return out;
}

std::optional<Bytes> open(const Bytes& key, std::span<const std::uint8_t> nonce, std::string_view aad,
                          std::span<const std::uint8_t> sealed) {
  check_key(key, "a ChaCha20-Poly1305 key");
  if (nonce.size() != kNonceBytes || sealed.size() < kTagBytes) return std::nullopt;
  const std::size_t n = sealed.size() - kTagBytes;
  CipherCtx ctx = cipher_context();
  Bytes out(n);
  Bytes tag(sealed.begin() + static_cast<std::ptrdiff_t>(n), sealed.end());
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag.data()) != 1)
    fail("ChaCha20-Poly1305 open");
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &len) != 1) {
    ERR_clear_error();
    return std::nullopt;  // the tag does not match
  }
  return out;
}

struct MaskStream::Cipher {
  CipherCtx ctx;
  /// Keystream of one call, at most kWords at a time.
  static constexpr std::size_t kWords = 16 * 1024;
  std::uint32_t buffer[kWords];
};

MaskStream::MaskStream(const Bytes& key) : cipher_(std::make_unique<Cipher>()) {
  check_key(key, "a mask key");
  cipher_->ctx = cipher_context();
  const unsigned char iv[16] = {};
  if (EVP_EncryptInit_ex(cipher_->ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(), iv) != 1) fail("AES-256-CTR");
}

MaskStream::~MaskStream() = default;

template <class Op>
void MaskStream::apply(std::span<std::uint32_t> values, Op op) {
  static_assert(std::endian::native == std::endian::little, "masks are little-endian words");
  auto* words = cipher_->buffer;
  for (std::size_t done = 0; done < values.size();) {
    const std::size_t n = std::min(Cipher::kWords, values.size() - done);
    // The keystream is the encryption of zeros.
    std::memset(words, 0, n * sizeof(std::uint32_t));
    int len = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(words);
    if (EVP_EncryptUpdate(cipher_->ctx.get(), bytes, &len, bytes, static_cast<int>(n * sizeof(std::uint32_t))) != 1)
      fail("AES-256-CTR keystream");
    std::uint32_t* v = values.data() + done;
    for (std::size_t i = 0; i < n; ++i) v[i] = op(v[i], words[i]);
    done += n;
  }
}

void MaskStream::add_to(std::span<std::uint32_t> values) {
  apply(values, [](std::uint32_t v, std::uint32_t m) { return v + m; });
}

void MaskStream::subtract_from(std::span<std::uint32_t> values) {
  apply(values, [](std::uint32_t v, std::uint32_t m) { return v - m; });
}

void MaskStream::generate(std::span<std::uint32_t> out) {
  apply(out, [](std::uint32_t, std::uint32_t m) { return m; });
}

}  // namespace cohort::secagg
