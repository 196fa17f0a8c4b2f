// X25519 key pairs and anonymous sealed boxes (libsodium crypto_box_seal*).
// A sealed box has no sender authentication: Coffer always wraps one in a signed envelope
// (docs/FORMAT.md, R4).
#ifndef COFFER_CRYPTO_BOX_H_
#define COFFER_CRYPTO_BOX_H_

#include "crypto/secret.h"

namespace coffer::crypto {

inline constexpr size_t kBoxPublicKeyBytes = 32;
inline constexpr size_t kBoxSecretKeyBytes = 32;
inline constexpr size_t kSealOverhead = 48;  // crypto_box_SEALBYTES

class BoxKeyPair {
 public:
  static BoxKeyPair Generate();
  // secret_key: 32 bytes; the public key is derived from it.
  static StatusOr<BoxKeyPair> FromSecretKey(const SecretBytes& secret_key);

  const Bytes& public_key() const { return public_key_; }
  const SecretBytes& secret_key() const { return secret_key_; }

 private:
  SecretBytes secret_key_;
  Bytes public_key_;
};

StatusOr<Bytes> SealToPublicKey(ByteView recipient_public_key, ByteView plaintext);
// kDataLoss("decryption failed") on any failure.
StatusOr<SecretBytes> OpenSealed(const BoxKeyPair& recipient, ByteView sealed);

namespace raw {
// X25519(private, public) -> shared (crypto_scalarmult). Fails (kDataLoss) for low-order
// points / all-zero output, as libsodium does.
StatusOr<Bytes> X25519(ByteView private_key, ByteView public_key);
}  // namespace raw

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_BOX_H_
