#include "crypto/box.h"

#include <sodium.h>

#include <string>

#include "crypto/internal.h"

namespace coffer::crypto {

static_assert(crypto_box_PUBLICKEYBYTES == kBoxPublicKeyBytes);
static_assert(crypto_box_SECRETKEYBYTES == kBoxSecretKeyBytes);
static_assert(crypto_box_SEALBYTES == kSealOverhead);
static_assert(crypto_scalarmult_BYTES == kBoxPublicKeyBytes);
static_assert(crypto_scalarmult_SCALARBYTES == kBoxSecretKeyBytes);

BoxKeyPair BoxKeyPair::Generate() {
  internal::InitOrDie();
  BoxKeyPair pair;
  pair.secret_key_ = SecretBytes(kBoxSecretKeyBytes);
  pair.public_key_.resize(kBoxPublicKeyBytes);
  crypto_box_keypair(pair.public_key_.data(), pair.secret_key_.MutableReveal(SecretAccess::Get()).data());
  return pair;
}

StatusOr<BoxKeyPair> BoxKeyPair::FromSecretKey(const SecretBytes& secret_key) {
  COFFER_RETURN_IF_ERROR(Init());
  if (secret_key.size() != kBoxSecretKeyBytes) {
    return InvalidArgumentError("X25519 secret key must be " + std::to_string(kBoxSecretKeyBytes) +
                                " bytes, got " + std::to_string(secret_key.size()));
  }
  BoxKeyPair pair;
  pair.secret_key_ = secret_key.Clone();
  pair.public_key_.resize(kBoxPublicKeyBytes);
  // This is exactly how crypto_box_keypair derives its public key. It fails only for an
  // all-zero result, which no clamped scalar times the base point can give.
  if (crypto_scalarmult_base(pair.public_key_.data(), secret_key.Reveal(SecretAccess::Get()).data()) != 0) {
    return InternalError("X25519 public key derivation failed");
  }
  return pair;
}

StatusOr<Bytes> SealToPublicKey(ByteView recipient_public_key, ByteView plaintext) {
  COFFER_RETURN_IF_ERROR(Init());
  if (recipient_public_key.size() != kBoxPublicKeyBytes) {
    return InvalidArgumentError("recipient public key must be " + std::to_string(kBoxPublicKeyBytes) +
                                " bytes, got " + std::to_string(recipient_public_key.size()));
  }
  if (plaintext.size() > crypto_box_MESSAGEBYTES_MAX - kSealOverhead) {
    return InvalidArgumentError("sealed box plaintext is too long");
  }
  Bytes sealed(plaintext.size() + kSealOverhead);
  // libsodium refuses low-order public keys: the shared secret would be predictable.
  if (crypto_box_seal(sealed.data(), plaintext.data(), plaintext.size(), recipient_public_key.data()) != 0) {
    return InvalidArgumentError("recipient public key is not a usable X25519 key");
  }
  return sealed;
}

StatusOr<SecretBytes> OpenSealed(const BoxKeyPair& recipient, ByteView sealed) {
  COFFER_RETURN_IF_ERROR(Init());
  const ByteView public_key = recipient.public_key();
  const ByteView secret_key = recipient.secret_key().Reveal(SecretAccess::Get());
  if (sealed.size() < kSealOverhead || public_key.size() != kBoxPublicKeyBytes ||
      secret_key.size() != kBoxSecretKeyBytes) {
    return DataLossError("decryption failed");
  }
  SecretBytes plaintext(sealed.size() - kSealOverhead);
  // An empty SecretBytes has no buffer; libsodium still wants somewhere to write nothing.
  uint8_t no_output;
  uint8_t* out = plaintext.empty() ? &no_output : plaintext.MutableReveal(SecretAccess::Get()).data();
  if (crypto_box_seal_open(out, sealed.data(), sealed.size(), public_key.data(), secret_key.data()) != 0) {
    return DataLossError("decryption failed");
  }
  return plaintext;
}

namespace raw {

StatusOr<Bytes> X25519(ByteView private_key, ByteView public_key) {
  COFFER_RETURN_IF_ERROR(Init());
  if (private_key.size() != crypto_scalarmult_SCALARBYTES || public_key.size() != crypto_scalarmult_BYTES) {
    return InvalidArgumentError("X25519 keys must be 32 bytes, got " + std::to_string(private_key.size()) +
                                " and " + std::to_string(public_key.size()));
  }
  Bytes shared(crypto_scalarmult_BYTES);
  if (crypto_scalarmult(shared.data(), private_key.data(), public_key.data()) != 0) {
    // libsodium reports an all-zero shared secret, i.e. a low-order public key.
    return DataLossError("X25519 public key has low order");
  }
  return shared;
}

}  // namespace raw
}  // namespace coffer::crypto
