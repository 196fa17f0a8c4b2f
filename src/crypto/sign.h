// Ed25519 signatures (libsodium crypto_sign_*).
// Thread-safety: SigningKey is immutable after construction; Verify is pure.
#ifndef COFFER_CRYPTO_SIGN_H_
#define COFFER_CRYPTO_SIGN_H_

#include "crypto/secret.h"

namespace coffer::crypto {

inline constexpr size_t kSignPublicKeyBytes = 32;
inline constexpr size_t kSignSeedBytes = 32;
inline constexpr size_t kSignatureBytes = 64;

class SigningKey {
 public:
  static SigningKey Generate();
  // seed: 32 bytes (kInvalidArgument otherwise). The same seed gives the same key pair.
  static StatusOr<SigningKey> FromSeed(const SecretBytes& seed);

  const Bytes& public_key() const { return public_key_; }
  // The 32-byte seed, for storage (wrapped) only.
  const SecretBytes& seed() const { return seed_; }
  Bytes Sign(ByteView message) const;  // 64-byte detached signature

 private:
  SecretBytes seed_;
  SecretBytes secret_key_;  // libsodium's 64-byte expanded form
  Bytes public_key_;
};

// OK when `signature` is a valid Ed25519 signature of `message` under `public_key`;
// kSecurity("signature verification failed") otherwise, including wrong sizes.
Status VerifySignature(ByteView public_key, ByteView message, ByteView signature);

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_SIGN_H_
