// Hashes, keyed hashes, key derivation and MACs.
//
// - Hash: BLAKE2b-256 (crypto_generichash), for hash chains and ids of public data.
// - KeyedHash: BLAKE2b-256 keyed with a 32-byte secret, a PRF: chunk ids, gear-table seeds.
// - DeriveKey: subkey = BLAKE2b-256(key=root, message="coffer/v1/" + label). One label per
//   purpose (key separation, R3); labels are listed in docs/FORMAT.md.
// - Sha256, HmacSha256, HkdfSha256: OpenSSL 3 (EVP_Digest, EVP_MAC, EVP_KDF).
// Thread-safety: pure functions; a StreamingHash object is not synchronised.
#ifndef COFFER_CRYPTO_HASH_H_
#define COFFER_CRYPTO_HASH_H_

#include <memory>
#include <string_view>

#include "crypto/secret.h"

namespace coffer::crypto {

inline constexpr size_t kHashBytes = 32;

Bytes Hash(ByteView data);
// key: 16..64 bytes. KeyedHash, DeriveKey and StreamingHash abort on another key size or
// an out_len outside 16..64: keys come from Coffer's own hierarchy, so that is a bug.
Bytes KeyedHash(const SecretBytes& key, ByteView data);
SecretBytes DeriveKey(const SecretBytes& root, std::string_view label, size_t out_len = 32);

// Incremental BLAKE2b-256, optionally keyed.
class StreamingHash {
 public:
  StreamingHash();                                 // unkeyed
  explicit StreamingHash(const SecretBytes& key);  // keyed
  ~StreamingHash();
  StreamingHash(const StreamingHash&) = delete;
  StreamingHash& operator=(const StreamingHash&) = delete;
  void Update(ByteView data);
  Bytes Final();  // 32 bytes; the object must not be used afterwards

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Bytes Sha256(ByteView data);
Bytes HmacSha256(ByteView key, ByteView data);
// RFC 5869. kInvalidArgument if out_len is 0 or > 255*32, or info is over 32 KiB (the most
// OpenSSL 3 accepts). An empty salt means the RFC's default (32 zero bytes).
StatusOr<Bytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t out_len);

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_HASH_H_
