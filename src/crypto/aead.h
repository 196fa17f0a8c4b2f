// Authenticated encryption with associated data.
//
// High level (use this): AeadSeal/AeadOpen with XChaCha20-Poly1305 (libsodium). The library
// draws a random 192-bit nonce and prefixes it, so callers never handle nonces:
//   sealed = nonce(24) || ciphertext || tag(16)
// A random 192-bit nonce makes nonce reuse negligible for any number of messages per key.
// Every decryption failure returns the same kDataLoss("decryption failed") after the same work
// (no oracle), whatever was wrong (tag, length, key).
//
// Low level (tests, benchmarks and bulk paths only): explicit-nonce primitives that the
// Wycheproof vectors pin. `ct_and_tag` is ciphertext || 16-byte tag (libsodium combined mode).
// Thread-safety: all functions are pure and thread-safe.
#ifndef COFFER_CRYPTO_AEAD_H_
#define COFFER_CRYPTO_AEAD_H_

#include "crypto/secret.h"

namespace coffer::crypto {

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kXNonceBytes = 24;
inline constexpr size_t kAeadTagBytes = 16;
inline constexpr size_t kAeadOverhead = kXNonceBytes + kAeadTagBytes;

// key must be 32 bytes (kInvalidArgument otherwise).
StatusOr<Bytes> AeadSeal(const SecretBytes& key, ByteView plaintext, ByteView aad);
StatusOr<Bytes> AeadOpen(const SecretBytes& key, ByteView sealed, ByteView aad);

// ChaCha20-Poly1305-IETF (RFC 8439) through OpenSSL 3, the faster implementation on this
// class of machine (bench/RESULTS.md, crypto micro-benchmarks), for bulk data:
//   sealed = nonce(12) || ciphertext || tag(16), the nonce random.
// A random 96-bit nonce is only safe for keys that seal few messages: use it ONLY with
// single-purpose keys derived per object (the chunk key of one chunk id seals that one
// plaintext, at most a handful of times). Same error behaviour as AeadOpen.
inline constexpr size_t kIetfNonceBytes = 12;
inline constexpr size_t kAeadIetfOverhead = kIetfNonceBytes + kAeadTagBytes;
StatusOr<Bytes> AeadSealIetf(const SecretBytes& key, ByteView plaintext, ByteView aad);
StatusOr<Bytes> AeadOpenIetf(const SecretBytes& key, ByteView sealed, ByteView aad);

namespace raw {
// XChaCha20-Poly1305-IETF (libsodium). nonce: 24 bytes.
StatusOr<Bytes> XChaCha20Poly1305Encrypt(ByteView key, ByteView nonce, ByteView aad, ByteView msg);
StatusOr<Bytes> XChaCha20Poly1305Decrypt(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag);
// ChaCha20-Poly1305-IETF, RFC 8439, nonce: 12 bytes. Two implementations of one standard
// (libsodium and OpenSSL 3 EVP); the benchmark picks the faster for bulk data.
StatusOr<Bytes> ChaCha20Poly1305EncryptSodium(ByteView key, ByteView nonce, ByteView aad, ByteView msg);
StatusOr<Bytes> ChaCha20Poly1305DecryptSodium(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag);
StatusOr<Bytes> ChaCha20Poly1305EncryptOpenSsl(ByteView key, ByteView nonce, ByteView aad, ByteView msg);
StatusOr<Bytes> ChaCha20Poly1305DecryptOpenSsl(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag);
// AES-GCM through OpenSSL 3 EVP: key 16/24/32 bytes, 16-byte tag, nonce of any length from 1
// to kAesGcmMaxNonceBytes (OpenSSL 3 refuses longer GCM IVs; those get kInvalidArgument).
inline constexpr size_t kAesGcmMaxNonceBytes = 128;
StatusOr<Bytes> AesGcmEncrypt(ByteView key, ByteView nonce, ByteView aad, ByteView msg);
StatusOr<Bytes> AesGcmDecrypt(ByteView key, ByteView nonce, ByteView aad, ByteView ct_and_tag);
}  // namespace raw

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_AEAD_H_
