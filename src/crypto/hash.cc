#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include <string>

#include "crypto/internal.h"

namespace coffer::crypto {
namespace {

using internal::Die;
using internal::NonNullData;

static_assert(kHashBytes >= crypto_generichash_BYTES_MIN && kHashBytes <= crypto_generichash_BYTES_MAX);

// Every derived key is BLAKE2b(key=root, "coffer/v1/" + label): the version prefix keeps
// Coffer's labels apart from any other use of the same root and lets a v2 start afresh.
constexpr std::string_view kDeriveKeyPrefix = "coffer/v1/";

constexpr size_t kSha256Bytes = 32;
constexpr size_t kHkdfMaxOutput = 255 * kSha256Bytes;
// OpenSSL 3's HKDF refuses a longer info string (HKDF_MAXINFO).
constexpr size_t kHkdfMaxInfo = 32 * 1024;

// BLAKE2b accepts keys of 16..64 bytes. The callers' keys come from our own key hierarchy,
// so a key of another size is a programming error, and these functions have no error
// channel to report it through.
void CheckBlake2bKey(const SecretBytes& key, std::string_view function) {
  if (key.size() < crypto_generichash_KEYBYTES_MIN || key.size() > crypto_generichash_KEYBYTES_MAX) {
    Die(std::string(function) + ": key must be 16..64 bytes, got " + std::to_string(key.size()));
  }
}

// Fetched once and shared (see aead.cc on implicit fetching); intentionally never freed.
const EVP_MD* Sha256Digest() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
EVP_MAC* HmacAlgorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}
EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

// OSSL_PARAM wants a mutable pointer but only reads octet-string inputs.
OSSL_PARAM OctetParam(const char* name, ByteView value) {
  return OSSL_PARAM_construct_octet_string(name, const_cast<uint8_t*>(NonNullData(value)), value.size());
}
OSSL_PARAM DigestParam(const char* digest_name) {
  return OSSL_PARAM_construct_utf8_string(OSSL_ALG_PARAM_DIGEST, const_cast<char*>(digest_name), 0);
}

struct SodiumFree {
  void operator()(void* p) const { sodium_free(p); }
};

}  // namespace

Bytes Hash(ByteView data) {
  internal::InitOrDie();
  Bytes out(kHashBytes);
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), /*key=*/nullptr, 0);
  return out;
}

Bytes KeyedHash(const SecretBytes& key, ByteView data) {
  internal::InitOrDie();
  CheckBlake2bKey(key, "KeyedHash");
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  Bytes out(kHashBytes);
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), raw_key.data(), raw_key.size());
  return out;
}

SecretBytes DeriveKey(const SecretBytes& root, std::string_view label, size_t out_len) {
  internal::InitOrDie();
  CheckBlake2bKey(root, "DeriveKey");
  if (out_len < crypto_generichash_BYTES_MIN || out_len > crypto_generichash_BYTES_MAX) {
    Die("DeriveKey: out_len must be 16..64, got " + std::to_string(out_len));
  }
  // The label is public, so building the message in an ordinary string is fine.
  const std::string message = std::string(kDeriveKeyPrefix) + std::string(label);
  const ByteView raw_root = root.Reveal(SecretAccess::Get());
  SecretBytes subkey(out_len);
  crypto_generichash(subkey.MutableReveal(SecretAccess::Get()).data(), out_len,
                     reinterpret_cast<const uint8_t*>(message.data()), message.size(), raw_root.data(),
                     raw_root.size());
  return subkey;
}

// A keyed BLAKE2b state buffers the key as its first block, so a keyed state is key material
// and lives in sodium_malloc'd memory (guard pages, wiped on free). An unkeyed state holds
// nothing secret beyond the data itself and uses the ordinary heap: no mmap per object.
struct StreamingHash::State {
  std::unique_ptr<crypto_generichash_state> public_state;
  std::unique_ptr<crypto_generichash_state, SodiumFree> secret_state;

  crypto_generichash_state* get() { return secret_state ? secret_state.get() : public_state.get(); }
};

StreamingHash::StreamingHash() : state_(std::make_unique<State>()) {
  internal::InitOrDie();
  state_->public_state = std::make_unique<crypto_generichash_state>();
  crypto_generichash_init(state_->get(), /*key=*/nullptr, 0, kHashBytes);
}

StreamingHash::StreamingHash(const SecretBytes& key) : state_(std::make_unique<State>()) {
  internal::InitOrDie();
  CheckBlake2bKey(key, "StreamingHash");
  // sodium_malloc places the block flush against the trailing guard page; the state's size
  // is a multiple of its 64-byte alignment, so the address is suitably aligned.
  static_assert(sizeof(crypto_generichash_state) % alignof(crypto_generichash_state) == 0);
  void* memory = sodium_malloc(sizeof(crypto_generichash_state));
  if (memory == nullptr) Die("sodium_malloc failed: out of memory");
  state_->secret_state.reset(static_cast<crypto_generichash_state*>(memory));
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  crypto_generichash_init(state_->get(), raw_key.data(), raw_key.size(), kHashBytes);
}

StreamingHash::~StreamingHash() = default;

void StreamingHash::Update(ByteView data) {
  if (state_ == nullptr) Die("StreamingHash::Update after Final");
  crypto_generichash_update(state_->get(), data.data(), data.size());
}

Bytes StreamingHash::Final() {
  if (state_ == nullptr) Die("StreamingHash::Final called twice");
  Bytes out(kHashBytes);
  crypto_generichash_final(state_->get(), out.data(), out.size());
  state_.reset();  // frees (and for a keyed hash wipes) the state now, not at destruction
  return out;
}

Bytes Sha256(ByteView data) {
  Bytes out(kSha256Bytes);
  unsigned int out_len = 0;
  const EVP_MD* md = Sha256Digest();
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out.data(), &out_len, md, nullptr) != 1 ||
      out_len != kSha256Bytes) {
    // Only a broken OpenSSL installation (no default provider) gets here.
    Die("OpenSSL SHA-256 failed");
  }
  return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
  EVP_MAC* mac = HmacAlgorithm();
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(mac == nullptr ? nullptr : EVP_MAC_CTX_new(mac));
  const OSSL_PARAM params[] = {DigestParam("SHA256"), OSSL_PARAM_construct_end()};
  Bytes out(kSha256Bytes);
  size_t out_len = 0;
  // A non-null key pointer even for an empty key: with nullptr OpenSSL would keep (or lack)
  // a previous key instead of using the empty one.
  if (ctx == nullptr || EVP_MAC_init(ctx.get(), NonNullData(key), key.size(), params) != 1 ||
      (!data.empty() && EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != kSha256Bytes) {
    Die("OpenSSL HMAC-SHA256 failed");
  }
  return out;
}

StatusOr<Bytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t out_len) {
  if (out_len == 0 || out_len > kHkdfMaxOutput) {
    return InvalidArgumentError("HKDF-SHA256 output must be 1.." + std::to_string(kHkdfMaxOutput) +
                                " bytes, asked for " + std::to_string(out_len));
  }
  if (info.size() > kHkdfMaxInfo) {
    return InvalidArgumentError("HKDF-SHA256 info must be at most " + std::to_string(kHkdfMaxInfo) +
                                " bytes, got " + std::to_string(info.size()));
  }
  EVP_KDF* kdf = HkdfAlgorithm();
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(kdf == nullptr ? nullptr : EVP_KDF_CTX_new(kdf));
  // RFC 5869: an absent salt is HashLen zero bytes, which HMAC's zero-padding of an empty key
  // gives anyway; leaving the parameter out says so explicitly.
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = DigestParam("SHA256");
  params[n++] = OctetParam(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[n++] = OctetParam(OSSL_KDF_PARAM_SALT, salt);
  params[n++] = OctetParam(OSSL_KDF_PARAM_INFO, info);
  params[n++] = OSSL_PARAM_construct_end();
  Bytes okm(out_len);
  if (ctx == nullptr || EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params) != 1) {
    ERR_clear_error();
    return InternalError("OpenSSL HKDF-SHA256 failed");
  }
  return okm;
}

}  // namespace coffer::crypto
