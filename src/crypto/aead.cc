#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <memory>
#include <string>

#include "crypto/internal.h"

namespace coffer::crypto {
namespace {

// The one error every authentication failure maps to, so callers (and attackers) learn
// nothing about which check failed.
Status DecryptionFailed() { return DataLossError("decryption failed"); }

Status CheckSize(ByteView value, size_t want, std::string_view algorithm, std::string_view what) {
  if (value.size() == want) return OkStatus();
  return InvalidArgumentError(std::string(algorithm) + " " + std::string(what) + " must be " +
                              std::to_string(want) + " bytes, got " + std::to_string(value.size()));
}

// ---------------------------------------------------------------------------------------------
// libsodium: XChaCha20-Poly1305-IETF and ChaCha20-Poly1305-IETF share one calling convention.

struct SodiumAead {
  std::string_view name;
  size_t nonce_bytes;
  // ChaCha20's 32-bit block counter bounds the message; libsodium aborts past it, so the
  // wrappers check first.
  unsigned long long max_message_bytes;
  decltype(&crypto_aead_xchacha20poly1305_ietf_encrypt) encrypt;
  decltype(&crypto_aead_xchacha20poly1305_ietf_decrypt) decrypt;
};

constexpr SodiumAead kSodiumXChaCha = {"XChaCha20-Poly1305", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                       crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX,
                                       crypto_aead_xchacha20poly1305_ietf_encrypt,
                                       crypto_aead_xchacha20poly1305_ietf_decrypt};
constexpr SodiumAead kSodiumChaCha = {"ChaCha20-Poly1305", crypto_aead_chacha20poly1305_ietf_NPUBBYTES,
                                      crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX,
                                      crypto_aead_chacha20poly1305_ietf_encrypt,
                                      crypto_aead_chacha20poly1305_ietf_decrypt};

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kXNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kAeadTagBytes);

// Writes ciphertext || tag to `out`, which must hold msg.size() + kAeadTagBytes bytes.
Status SodiumEncryptInto(const SodiumAead& aead, ByteView key, ByteView nonce, ByteView aad, ByteView msg,
                         uint8_t* out) {
  COFFER_RETURN_IF_ERROR(Init());
  COFFER_RETURN_IF_ERROR(CheckSize(key, kAeadKeyBytes, aead.name, "key"));
  COFFER_RETURN_IF_ERROR(CheckSize(nonce, aead.nonce_bytes, aead.name, "nonce"));
  if (msg.size() > aead.max_message_bytes) {
    return InvalidArgumentError(std::string(aead.name) + " message is too long");
  }
  unsigned long long written = 0;
  aead.encrypt(out, &written, msg.data(), msg.size(), aad.data(), aad.size(), /*nsec=*/nullptr, nonce.data(),
               key.data());
  return OkStatus();
}

StatusOr<Bytes> SodiumEncrypt(const SodiumAead& aead, ByteView key, ByteView nonce, ByteView aad,
                              ByteView msg) {
  Bytes out(msg.size() + kAeadTagBytes);
  COFFER_RETURN_IF_ERROR(SodiumEncryptInto(aead, key, nonce, aad, msg, out.data()));
  return out;
}

StatusOr<Bytes> SodiumDecrypt(const SodiumAead& aead, ByteView key, ByteView nonce, ByteView aad,
                              ByteView ct_and_tag) {
  COFFER_RETURN_IF_ERROR(Init());
  COFFER_RETURN_IF_ERROR(CheckSize(key, kAeadKeyBytes, aead.name, "key"));
  COFFER_RETURN_IF_ERROR(CheckSize(nonce, aead.nonce_bytes, aead.name, "nonce"));
  if (ct_and_tag.size() < kAeadTagBytes || ct_and_tag.size() - kAeadTagBytes > aead.max_message_bytes) {
    return DecryptionFailed();
  }
  Bytes plaintext(ct_and_tag.size() - kAeadTagBytes);
  unsigned long long written = 0;
  // libsodium verifies the tag before decrypting and zeroes `plaintext` on failure. A null
  // output pointer (empty plaintext) makes it verify only, which is what we want.
  if (aead.decrypt(plaintext.data(), &written, /*nsec=*/nullptr, ct_and_tag.data(), ct_and_tag.size(),
                   aad.data(), aad.size(), nonce.data(), key.data()) != 0) {
    return DecryptionFailed();
  }
  return plaintext;
}

// ---------------------------------------------------------------------------------------------
// OpenSSL 3 EVP: ChaCha20-Poly1305 and AES-GCM.

// Fetched once: implicit fetching (EVP_aes_256_gcm() etc.) repeats the provider lookup on
// every init, which costs more than sealing a small message. Fetched objects are immutable
// and safe to share between threads; they live for the whole process on purpose.
const EVP_CIPHER* FetchCipher(const char* name) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(/*libctx=*/nullptr, name, /*properties=*/nullptr);
  ERR_clear_error();
  return cipher;
}
const EVP_CIPHER* ChaCha20Poly1305Cipher() {
  static const EVP_CIPHER* const cipher = FetchCipher("ChaCha20-Poly1305");
  return cipher;
}
const EVP_CIPHER* AesGcmCipher(size_t key_bytes) {
  static const EVP_CIPHER* const aes128 = FetchCipher("AES-128-GCM");
  static const EVP_CIPHER* const aes192 = FetchCipher("AES-192-GCM");
  static const EVP_CIPHER* const aes256 = FetchCipher("AES-256-GCM");
  switch (key_bytes) {
    case 16:
      return aes128;
    case 24:
      return aes192;
    case 32:
      return aes256;
    default:
      return nullptr;
  }
}

// 256 GiB, from ChaCha20's 32-bit block counter; OpenSSL does not enforce it itself.
constexpr uint64_t kChaCha20MaxMessageBytes = crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX;
// NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per (key, nonce).
constexpr uint64_t kAesGcmMaxMessageBytes = (uint64_t{1} << 36) - 32;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// What an OpenSSL call failed on, with the thread's OpenSSL error queue emptied so that a
// stale entry cannot confuse later, unrelated OpenSSL users (e.g. TLS).
Status OpenSslFailure(std::string_view algorithm) {
  ERR_clear_error();
  return InternalError("OpenSSL " + std::string(algorithm) + " failed");
}

// Feeds `in` to EVP_CipherUpdate in pieces, since EVP takes int lengths. `out == nullptr`
// means `in` is AAD. Both modes are stream modes: each piece yields as many output bytes.
bool CipherUpdate(EVP_CIPHER_CTX* ctx, ByteView in, uint8_t* out) {
  constexpr size_t kMaxPiece = size_t{1} << 30;
  while (!in.empty()) {
    const size_t piece = std::min(in.size(), kMaxPiece);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, in.data(), static_cast<int>(piece)) != 1) return false;
    if (out != nullptr) {
      if (static_cast<size_t>(written) != piece) return false;
      out += piece;
    }
    in = in.subspan(piece);
  }
  return true;
}

// Sets up `ctx` for one message. Returns an empty pointer on OpenSSL failure.
CipherCtx StartCipher(const EVP_CIPHER* cipher, bool encrypt, ByteView key, ByteView nonce) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_CipherInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr, encrypt ? 1 : 0) != 1 ||
      // Must succeed: when OpenSSL refuses a length, a later init silently keeps the default.
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data(), encrypt ? 1 : 0) != 1) {
    return nullptr;
  }
  return ctx;
}

StatusOr<Bytes> OpenSslEncrypt(std::string_view algorithm, const EVP_CIPHER* cipher, ByteView key,
                               ByteView nonce, ByteView aad, ByteView msg) {
  if (cipher == nullptr) return OpenSslFailure(algorithm);
  CipherCtx ctx = StartCipher(cipher, /*encrypt=*/true, key, nonce);
  if (ctx == nullptr) return OpenSslFailure(algorithm);
  Bytes out(msg.size() + kAeadTagBytes);
  int final_len = 0;
  uint8_t final_block[EVP_MAX_BLOCK_LENGTH];  // stream modes write nothing here
  if (!CipherUpdate(ctx.get(), aad, nullptr) || !CipherUpdate(ctx.get(), msg, out.data()) ||
      EVP_CipherFinal_ex(ctx.get(), final_block, &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kAeadTagBytes, out.data() + msg.size()) != 1) {
    return OpenSslFailure(algorithm);
  }
  return out;
}

StatusOr<Bytes> OpenSslDecrypt(std::string_view algorithm, const EVP_CIPHER* cipher, ByteView key,
                               ByteView nonce, ByteView aad, ByteView ct_and_tag) {
  if (cipher == nullptr) return OpenSslFailure(algorithm);
  const ByteView ciphertext = ct_and_tag.first(ct_and_tag.size() - kAeadTagBytes);
  Bytes tag(ct_and_tag.end() - kAeadTagBytes, ct_and_tag.end());  // the ctrl wants non-const
  CipherCtx ctx = StartCipher(cipher, /*encrypt=*/false, key, nonce);
  if (ctx == nullptr ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kAeadTagBytes, tag.data()) != 1) {
    return OpenSslFailure(algorithm);
  }
  Bytes plaintext(ciphertext.size());
  if (!CipherUpdate(ctx.get(), aad, nullptr) || !CipherUpdate(ctx.get(), ciphertext, plaintext.data())) {
    if (!plaintext.empty()) OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return OpenSslFailure(algorithm);
  }
  int final_len = 0;
  uint8_t final_block[EVP_MAX_BLOCK_LENGTH];
  if (EVP_CipherFinal_ex(ctx.get(), final_block, &final_len) != 1 || final_len != 0) {
    // OpenSSL decrypts before it checks the tag: never let unauthenticated plaintext linger.
    if (!plaintext.empty()) OPENSSL_cleanse(plaintext.data(), plaintext.size());
    ERR_clear_error();
    return DecryptionFailed();
  }
  return plaintext;
}

Status CheckChaCha20OpenSslArgs(ByteView key, ByteView nonce) {
  constexpr std::string_view kName = "ChaCha20-Poly1305";
  COFFER_RETURN_IF_ERROR(CheckSize(key, kAeadKeyBytes, kName, "key"));
  // OpenSSL would zero-pad a shorter nonce, which is not RFC 8439: insist on exactly 12 bytes.
  return CheckSize(nonce, crypto_aead_chacha20poly1305_ietf_NPUBBYTES, kName, "nonce");
}

Status CheckAesGcmArgs(ByteView key, ByteView nonce) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    return InvalidArgumentError("AES-GCM key must be 16, 24 or 32 bytes, got " + std::to_string(key.size()));
  }
  if (nonce.empty() || nonce.size() > raw::kAesGcmMaxNonceBytes) {
    return InvalidArgumentError("AES-GCM nonce must be 1.." + std::to_string(raw::kAesGcmMaxNonceBytes) +
                                " bytes, got " + std::to_string(nonce.size()));
  }
  return OkStatus();
}

}  // namespace

StatusOr<Bytes> AeadSeal(const SecretBytes& key, ByteView plaintext, ByteView aad) {
  COFFER_RETURN_IF_ERROR(Init());
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  COFFER_RETURN_IF_ERROR(CheckSize(raw_key, kAeadKeyBytes, "AEAD", "key"));
  if (plaintext.size() > kSodiumXChaCha.max_message_bytes - kAeadOverhead) {
    return InvalidArgumentError("AEAD plaintext is too long");
  }
  // sealed = nonce || ciphertext || tag, built in place.
  Bytes sealed(kXNonceBytes + plaintext.size() + kAeadTagBytes);
  randombytes_buf(sealed.data(), kXNonceBytes);
  const ByteView nonce(sealed.data(), kXNonceBytes);
  COFFER_RETURN_IF_ERROR(
      SodiumEncryptInto(kSodiumXChaCha, raw_key, nonce, aad, plaintext, sealed.data() + kXNonceBytes));
  return sealed;
}

StatusOr<Bytes> AeadOpen(const SecretBytes& key, ByteView sealed, ByteView aad) {
  COFFER_RETURN_IF_ERROR(Init());
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  // A wrong key *size* is the caller's bug, not corrupt data, hence a different code.
  COFFER_RETURN_IF_ERROR(CheckSize(raw_key, kAeadKeyBytes, "AEAD", "key"));
  if (sealed.size() < kAeadOverhead) return DecryptionFailed();
  auto plaintext =
      SodiumDecrypt(kSodiumXChaCha, raw_key, sealed.first(kXNonceBytes), aad, sealed.subspan(kXNonceBytes));
  if (!plaintext.ok()) return DecryptionFailed();
  return plaintext;
}

StatusOr<Bytes> AeadSealIetf(const SecretBytes& key, ByteView plaintext, ByteView aad) {
  COFFER_RETURN_IF_ERROR(Init());
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  COFFER_RETURN_IF_ERROR(CheckSize(raw_key, kAeadKeyBytes, "AEAD", "key"));
  Bytes nonce(kIetfNonceBytes);
  randombytes_buf(nonce.data(), nonce.size());
  COFFER_ASSIGN_OR_RETURN(Bytes ct, raw::ChaCha20Poly1305EncryptOpenSsl(raw_key, nonce, aad, plaintext));
  nonce.insert(nonce.end(), ct.begin(), ct.end());
  return nonce;
}

StatusOr<Bytes> AeadOpenIetf(const SecretBytes& key, ByteView sealed, ByteView aad) {
  COFFER_RETURN_IF_ERROR(Init());
  const ByteView raw_key = key.Reveal(SecretAccess::Get());
  COFFER_RETURN_IF_ERROR(CheckSize(raw_key, kAeadKeyBytes, "AEAD", "key"));
  if (sealed.size() < kAeadIetfOverhead) return DecryptionFailed();
  auto plaintext =
      raw::ChaCha20Poly1305DecryptOpenSsl(raw_key, sealed.first(kIetfNonceBytes), aad, sealed.subspan(kIetfNonceBytes));
  if (!plaintext.ok()) return DecryptionFailed();
  return plaintext;
}

namespace raw {

StatusOr<Bytes> XChaCha20Poly1305Encrypt(ByteView key, ByteView nonce, ByteView aad, ByteView msg) {
  return SodiumEncrypt(kSodiumXChaCha, key, nonce, aad, msg);
}

StatusOr<Bytes> XChaCha20Poly1305Decrypt(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag) {
  return SodiumDecrypt(kSodiumXChaCha, key, nonce, aad, ct_and_tag);
}

StatusOr<Bytes> ChaCha20Poly1305EncryptSodium(ByteView key, ByteView nonce, ByteView aad, ByteView msg) {
  return SodiumEncrypt(kSodiumChaCha, key, nonce, aad, msg);
}

StatusOr<Bytes> ChaCha20Poly1305DecryptSodium(ByteView key, ByteView nonce, ByteView aad,
                                              ByteView ct_and_tag) {
  return SodiumDecrypt(kSodiumChaCha, key, nonce, aad, ct_and_tag);
}

StatusOr<Bytes> ChaCha20Poly1305EncryptOpenSsl(ByteView key, ByteView nonce, ByteView aad, ByteView msg) {
  COFFER_RETURN_IF_ERROR(CheckChaCha20OpenSslArgs(key, nonce));
  if (msg.size() > kChaCha20MaxMessageBytes) {
    return InvalidArgumentError("ChaCha20-Poly1305 message is too long");
  }
  return OpenSslEncrypt("ChaCha20-Poly1305", ChaCha20Poly1305Cipher(), key, nonce, aad, msg);
}

StatusOr<Bytes> ChaCha20Poly1305DecryptOpenSsl(ByteView key, ByteView nonce, ByteView aad,
                                               ByteView ct_and_tag) {
  COFFER_RETURN_IF_ERROR(CheckChaCha20OpenSslArgs(key, nonce));
  if (ct_and_tag.size() < kAeadTagBytes || ct_and_tag.size() - kAeadTagBytes > kChaCha20MaxMessageBytes) {
    return DecryptionFailed();
  }
  return OpenSslDecrypt("ChaCha20-Poly1305", ChaCha20Poly1305Cipher(), key, nonce, aad, ct_and_tag);
}

StatusOr<Bytes> AesGcmEncrypt(ByteView key, ByteView nonce, ByteView aad, ByteView msg) {
  COFFER_RETURN_IF_ERROR(CheckAesGcmArgs(key, nonce));
  if (msg.size() > kAesGcmMaxMessageBytes) return InvalidArgumentError("AES-GCM message is too long");
  return OpenSslEncrypt("AES-GCM", AesGcmCipher(key.size()), key, nonce, aad, msg);
}

StatusOr<Bytes> AesGcmDecrypt(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag) {
  COFFER_RETURN_IF_ERROR(CheckAesGcmArgs(key, nonce));
  if (ct_and_tag.size() < kAeadTagBytes || ct_and_tag.size() - kAeadTagBytes > kAesGcmMaxMessageBytes) {
    return DecryptionFailed();
  }
  return OpenSslDecrypt("AES-GCM", AesGcmCipher(key.size()), key, nonce, aad, ct_and_tag);
}

}  // namespace raw
}  // namespace coffer::crypto
