// Helpers shared by the crypto .cc files. Not part of the module's API: include only from
// src/crypto/*.cc.
#ifndef COFFER_CRYPTO_INTERNAL_H_
#define COFFER_CRYPTO_INTERNAL_H_

#include <cstdint>
#include <string_view>

#include "util/bytes.h"

namespace coffer::crypto::internal {

// Initialises libsodium for entry points that cannot return a Status (constructors,
// functions returning Bytes). sodium_init only fails when the platform is unusable (no CPU
// feature detection, no entropy source), so this aborts rather than continue unsafely.
void InitOrDie();

// Reports a broken caller contract or an impossible library failure, then aborts. Used where
// the declared API has no error channel (e.g. a KeyedHash key of the wrong size).
[[noreturn]] void Die(std::string_view what);

// Some C APIs reject or mishandle a null pointer even with a zero length, and an empty
// std::vector may hand out nullptr. This returns a valid address for any view.
inline const uint8_t* NonNullData(ByteView v) {
  static constexpr uint8_t kEmpty = 0;
  return v.empty() ? &kEmpty : v.data();
}

}  // namespace coffer::crypto::internal

#endif  // COFFER_CRYPTO_INTERNAL_H_
