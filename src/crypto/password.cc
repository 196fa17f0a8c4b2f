#include "crypto/password.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/internal.h"

namespace coffer::crypto {
namespace {

using internal::NonNullData;

// The test suites set this so that every Argon2id call costs milliseconds, not seconds.
bool FastKdfForTests() {
  const char* value = std::getenv("COFFER_TEST_FAST_KDF");
  return value != nullptr && std::string_view(value) == "1";
}

// HashForStorage under COFFER_TEST_FAST_KDF. The server-side hash protects a verifier that is
// already a slow Argon2id output, so tests may go well below the interactive preset.
constexpr unsigned long long kFastStorageOpsLimit = 1;
constexpr size_t kFastStorageMemLimit = size_t{8} << 20;

const char* AsChars(ByteView bytes) { return reinterpret_cast<const char*>(NonNullData(bytes)); }

}  // namespace

KdfParams DefaultKdfParams() {
  if (FastKdfForTests()) return KdfParams{.ops_limit = kMinOpsLimit, .mem_limit = kMinMemLimit};
  return KdfParams{};
}

StatusOr<SecretBytes> DerivePasswordKey(const SecretBytes& password, ByteView salt, const KdfParams& params,
                                        size_t out_len) {
  COFFER_RETURN_IF_ERROR(Init());
  if (salt.size() != kPasswordSaltBytes) {
    return InvalidArgumentError("password salt must be " + std::to_string(kPasswordSaltBytes) +
                                " bytes, got " + std::to_string(salt.size()));
  }
  // The parameters come from the (untrusted) server: the floors stop a downgrade (R9).
  if (params.ops_limit < kMinOpsLimit) {
    return InvalidArgumentError("Argon2id ops_limit " + std::to_string(params.ops_limit) +
                                " is below the floor of " + std::to_string(kMinOpsLimit));
  }
  if (params.mem_limit < kMinMemLimit) {
    return InvalidArgumentError("Argon2id mem_limit " + std::to_string(params.mem_limit) +
                                " bytes is below the floor of " + std::to_string(kMinMemLimit) +
                                " bytes (16 MiB)");
  }
  if (params.ops_limit > crypto_pwhash_OPSLIMIT_MAX || params.mem_limit > crypto_pwhash_MEMLIMIT_MAX) {
    return InvalidArgumentError("Argon2id parameters exceed libsodium's maximum");
  }
  if (out_len < crypto_pwhash_BYTES_MIN || out_len > crypto_pwhash_BYTES_MAX) {
    return InvalidArgumentError("Argon2id output must be at least " +
                                std::to_string(crypto_pwhash_BYTES_MIN) + " bytes, asked for " +
                                std::to_string(out_len));
  }
  const ByteView raw_password = password.Reveal(SecretAccess::Get());
  if (raw_password.size() > crypto_pwhash_PASSWD_MAX) return InvalidArgumentError("password is too long");

  SecretBytes key(out_len);
  if (crypto_pwhash(key.MutableReveal(SecretAccess::Get()).data(), out_len, AsChars(raw_password),
                    raw_password.size(), salt.data(), params.ops_limit, params.mem_limit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // With the parameters checked above, the only failure left is allocating mem_limit.
    return ResourceExhaustedError("Argon2id could not allocate " + std::to_string(params.mem_limit) +
                                  " bytes");
  }
  return key;
}

StatusOr<std::string> HashForStorage(ByteView secret) {
  COFFER_RETURN_IF_ERROR(Init());
  if (secret.size() > crypto_pwhash_PASSWD_MAX) return InvalidArgumentError("secret is too long");
  const bool fast = FastKdfForTests();
  const unsigned long long ops_limit = fast ? kFastStorageOpsLimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const size_t mem_limit = fast ? kFastStorageMemLimit : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  char encoded[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(encoded, AsChars(secret), secret.size(), ops_limit, mem_limit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhaustedError("Argon2id could not allocate " + std::to_string(mem_limit) + " bytes");
  }
  return std::string(encoded);  // NUL-terminated by libsodium
}

bool VerifyStored(const std::string& stored, ByteView secret) {
  if (!Init().ok()) return false;
  // libsodium reads a NUL-terminated string of at most crypto_pwhash_STRBYTES - 1 characters.
  // Anything else is not one of our strings; copying into a zeroed buffer of that size makes
  // sure no read can go past it.
  if (stored.size() >= crypto_pwhash_STRBYTES || stored.find('\0') != std::string::npos) return false;
  char encoded[crypto_pwhash_STRBYTES] = {};
  std::copy(stored.begin(), stored.end(), encoded);
  return crypto_pwhash_str_verify(encoded, AsChars(secret), secret.size()) == 0;
}

}  // namespace coffer::crypto
