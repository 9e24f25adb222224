#include "provisioning/certificates.hpp"

#include <cohort/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace cohort::provisioning {

namespace {

[[noreturn]] void fail(const std::string& what) {
  char buffer[256] = "no detail";
  if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, buffer, sizeof buffer);
  throw std::runtime_error(what + ": " + buffer);
}

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

KeyPtr generate_key(KeyType type) {
  EVP_PKEY* key = type == KeyType::rsa2048 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key) fail("cannot generate a key");
  return KeyPtr(key, &EVP_PKEY_free);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string key_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) fail("cannot write a key");
  return bio_text(bio.get());
}

std::string cert_to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!PEM_write_bio_X509(bio.get(), cert)) fail("cannot write a certificate");
  return bio_text(bio.get());
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("cannot build certificate extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr new_certificate(const std::string& common_name, EVP_PKEY* key, std::chrono::hours validity,
                        std::chrono::hours not_before_offset, const std::string& organization = "",
                        const std::string& unit = "") {
  CertPtr cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  const long offset = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(not_before_offset).count());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), offset - 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  offset + static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(validity).count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  if (!organization.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(organization.c_str()), -1, -1, 0);
  if (!unit.empty())
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(unit.c_str()), -1, -1, 0);
  return cert;
}

}  // namespace

struct CertificateAuthority::Impl {
  KeyPtr key{nullptr, &EVP_PKEY_free};
  CertPtr cert{nullptr, &X509_free};
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

CertificateAuthority CertificateAuthority::create(const std::string& project, KeyType key_type,
                                                  std::chrono::hours validity) {
  auto impl = std::make_unique<Impl>();
  impl->key = generate_key(key_type);
  impl->cert = new_certificate(project + " root CA", impl->key.get(), validity, std::chrono::hours(0));
  X509_set_issuer_name(impl->cert.get(), X509_get_subject_name(impl->cert.get()));
  add_extension(impl->cert.get(), impl->cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(impl->cert.get(), impl->cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(impl->cert.get(), impl->cert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(impl->cert.get(), impl->key.get(), EVP_sha256())) fail("cannot sign the root certificate");
  return CertificateAuthority(std::move(impl));
}

CertificateAuthority CertificateAuthority::load(const std::string& certificate_pem, const std::string& key_pem) {
  auto impl = std::make_unique<Impl>();
  BioPtr cert_bio(BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())), &BIO_free);
  impl->cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!impl->cert) fail("cannot read the root certificate");
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
  impl->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!impl->key) fail("cannot read the root key");
  return CertificateAuthority(std::move(impl));
}

std::string CertificateAuthority::certificate_pem() const { return cert_to_pem(impl_->cert.get()); }
std::string CertificateAuthority::key_pem() const { return key_to_pem(impl_->key.get()); }

Identity CertificateAuthority::issue(const std::string& name, CertificateRole role, KeyType key_type,
                                     std::chrono::hours validity, const std::vector<std::string>& hosts,
                                     std::chrono::hours not_before_offset) const {
  return issue(name, "", "", role, key_type, validity, hosts, not_before_offset);
}

Identity CertificateAuthority::issue(const std::string& name, const std::string& organization, const std::string& unit,
                                     CertificateRole role, KeyType key_type, std::chrono::hours validity,
                                     const std::vector<std::string>& hosts, std::chrono::hours not_before_offset) const {
  KeyPtr key = generate_key(key_type);
  CertPtr cert = new_certificate(name, key.get(), validity, not_before_offset, organization, unit);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(impl_->cert.get()));
  add_extension(cert.get(), impl_->cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), impl_->cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_extension(cert.get(), impl_->cert.get(), NID_ext_key_usage,
                role == CertificateRole::server ? "serverAuth,clientAuth" : "clientAuth");
  add_extension(cert.get(), impl_->cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!hosts.empty()) {
    std::string san;
    for (const auto& h : hosts) {
      const bool ip = !h.empty() && h.find_first_not_of("0123456789.:") == std::string::npos;
      san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + h;
    }
    add_extension(cert.get(), impl_->cert.get(), NID_subject_alt_name, san);
  }
  if (!X509_sign(cert.get(), impl_->key.get(), EVP_sha256())) fail("cannot sign the certificate of " + name);
  return Identity{cert_to_pem(cert.get()), key_to_pem(key.get())};
}

std::string CertificateAuthority::sign(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    fail("cannot sign with the root key");
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    fail("cannot sign with the root key");
  signature.resize(size);
  std::string encoded(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(signature.data()), static_cast<int>(size));
  encoded.resize(static_cast<std::size_t>(n));
  return encoded;
}

namespace {

CertPtr read_certificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
}

std::string name_entry(X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

}  // namespace

bool verify_signature(const std::string& certificate_pem, std::string_view data, const std::string& signature_base64) {
  CertPtr cert = read_certificate(certificate_pem);
  if (!cert) return false;
  std::string signature(3 * (signature_base64.size() / 4) + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(signature.data()),
                                reinterpret_cast<const unsigned char*>(signature_base64.data()),
                                static_cast<int>(signature_base64.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts the padding bytes as zeros.
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = signature_base64.rbegin(); it != signature_base64.rend() && *it == '='; ++it) --size;
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), size,
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

std::string sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError(file, "cannot read");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buffer, static_cast<std::size_t>(in.gcount()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

Subject certificate_subject(const std::string& certificate_pem) {
  CertPtr cert = read_certificate(certificate_pem);
  if (!cert) throw std::runtime_error("not a PEM certificate");
  X509_NAME* name = X509_get_subject_name(cert.get());
  return Subject{name_entry(name, NID_commonName), name_entry(name, NID_organizationName),
                 name_entry(name, NID_organizationalUnitName)};
}

}  // namespace cohort::provisioning
