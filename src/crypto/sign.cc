#include "crypto/sign.h"

#include <sodium.h>

#include <string>

#include "crypto/internal.h"

namespace coffer::crypto {

static_assert(crypto_sign_PUBLICKEYBYTES == kSignPublicKeyBytes);
static_assert(crypto_sign_SEEDBYTES == kSignSeedBytes);
static_assert(crypto_sign_BYTES == kSignatureBytes);

SigningKey SigningKey::Generate() {
  // A fresh seed always has the right size, so FromSeed cannot fail here.
  return *FromSeed(SecretBytes::Random(kSignSeedBytes));
}

StatusOr<SigningKey> SigningKey::FromSeed(const SecretBytes& seed) {
  COFFER_RETURN_IF_ERROR(Init());
  if (seed.size() != kSignSeedBytes) {
    return InvalidArgumentError("Ed25519 seed must be " + std::to_string(kSignSeedBytes) + " bytes, got " +
                                std::to_string(seed.size()));
  }
  SigningKey key;
  key.seed_ = seed.Clone();
  key.secret_key_ = SecretBytes(crypto_sign_SECRETKEYBYTES);
  key.public_key_.resize(kSignPublicKeyBytes);
  crypto_sign_seed_keypair(key.public_key_.data(), key.secret_key_.MutableReveal(SecretAccess::Get()).data(),
                           seed.Reveal(SecretAccess::Get()).data());
  return key;
}

Bytes SigningKey::Sign(ByteView message) const {
  // A default-constructed or moved-from key has no secret; signing with it is a caller bug.
  if (secret_key_.size() != crypto_sign_SECRETKEYBYTES) internal::Die("Sign() on an empty SigningKey");
  Bytes signature(kSignatureBytes);
  crypto_sign_detached(signature.data(), /*siglen_p=*/nullptr, message.data(), message.size(),
                       secret_key_.Reveal(SecretAccess::Get()).data());
  return signature;
}

Status VerifySignature(ByteView public_key, ByteView message, ByteView signature) {
  COFFER_RETURN_IF_ERROR(Init());
  // One error for every failure: a caller must not treat "wrong size" more leniently than
  // "forged".
  if (public_key.size() != kSignPublicKeyBytes || signature.size() != kSignatureBytes ||
      crypto_sign_verify_detached(signature.data(), message.data(), message.size(), public_key.data()) != 0) {
    return SecurityError("signature verification failed");
  }
  return OkStatus();
}

}  // namespace coffer::crypto
