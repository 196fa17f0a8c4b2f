// Password-based derivation (Argon2id, libsodium crypto_pwhash) and slow verifier storage.
//
// Client side: DerivePasswordKey turns the password into the login verifier; parameters are
// stored per account and the client enforces floors (kMinOpsLimit/kMinMemLimit) so a server
// cannot downgrade them (R9). Server side: HashForStorage/VerifyStored wrap crypto_pwhash_str
// (an Argon2id string with its own salt) for storing the verifier.
#ifndef COFFER_CRYPTO_PASSWORD_H_
#define COFFER_CRYPTO_PASSWORD_H_

#include <string>

#include "crypto/secret.h"

namespace coffer::crypto {

inline constexpr size_t kPasswordSaltBytes = 16;
inline constexpr uint64_t kMinOpsLimit = 2;
inline constexpr uint64_t kMinMemLimit = 16ull << 20;  // 16 MiB; floor the client enforces

struct KdfParams {
  uint64_t ops_limit = 3;
  uint64_t mem_limit = 64ull << 20;  // 64 MiB
};

// Defaults for new accounts. Tests may set COFFER_TEST_FAST_KDF=1 which lowers them to the
// floor (never below it).
KdfParams DefaultKdfParams();

// Argon2id(password, salt) -> out_len bytes. kInvalidArgument on bad salt size or params
// below the floor.
StatusOr<SecretBytes> DerivePasswordKey(const SecretBytes& password, ByteView salt,
                                        const KdfParams& params, size_t out_len = 32);

// Server-side slow hash of a (high-entropy) verifier; interactive-strength parameters.
StatusOr<std::string> HashForStorage(ByteView secret);
// Constant-time check of `secret` against a string from HashForStorage.
bool VerifyStored(const std::string& stored, ByteView secret);

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_PASSWORD_H_
