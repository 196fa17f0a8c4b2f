// Device keys, the signed device chain, and the human-typed secrets (recovery key, pairing
// code). See docs/FORMAT.md §2-§4 and §12.
#ifndef COFFER_CLIENT_KEYS_H_
#define COFFER_CLIENT_KEYS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/formats.h"
#include "crypto/box.h"
#include "crypto/secret.h"
#include "crypto/sign.h"

namespace coffer::client {

// This device's own key pairs. Private keys never leave the device: stored in
// `<home>/device.key` (mode 0600).
struct DeviceKeys {
  Id device_id{};
  std::string name;
  crypto::SigningKey sign;
  crypto::BoxKeyPair box;

  static DeviceKeys Generate(std::string name);
  Status Save(const std::string& path) const;
  static StatusOr<DeviceKeys> Load(const std::string& path);
};

// An account identity: Ed25519 + X25519, private parts kept only inside the keyring.
struct Identity {
  crypto::SigningKey sign;
  crypto::BoxKeyPair box;
  static Identity Generate();
};

struct ChainDevice {
  Id device_id{};
  Bytes sign_pk;
  Bytes box_pk;
  uint64_t added_at_seq = 0;
  std::optional<uint64_t> revoked_at_seq;
  int64_t added_time = 0;
  bool active() const { return !revoked_at_seq.has_value(); }
  // Was this device allowed to write when the chain had `chain_len` entries?
  bool ActiveAt(uint64_t chain_len) const {
    return added_at_seq < chain_len && (!revoked_at_seq || *revoked_at_seq >= chain_len);
  }
};

// The verified state of a device chain.
struct ChainState {
  Id account_id{};
  Hash32 genesis_hash{};
  uint64_t length = 0;
  Hash32 head_hash{};
  Bytes identity_sign_pk;
  Bytes identity_box_pk;
  std::map<Id, ChainDevice> devices;

  const ChainDevice* Find(const Id& id) const {
    auto it = devices.find(id);
    return it == devices.end() ? nullptr : &it->second;
  }
};

// Verifies a whole chain from entry 0: structure, sequence numbers, hash links, both
// signatures of every entry (by the identity in force before and the one after), device
// add/revoke consistency, and that entry 0 hashes to `pinned_genesis`. Every failure is
// kSecurity naming the entry.
StatusOr<ChainState> VerifyChain(const std::vector<Bytes>& entries, const Id& account_id,
                                 const Hash32& pinned_genesis);

// Fails with kSecurity if `chain` does not extend what this device saw before
// (`seen_len`, `seen_head`): rollback (shorter) or fork (different entry at seen_len-1).
Status CheckChainExtends(const std::vector<Bytes>& entries, uint64_t seen_len, const Hash32& seen_head);

Hash32 HashOf(ByteView data);

// Builds and signs a chain entry. `before` signs; `after` is the identity after the entry
// (the same object for genesis/add).
Bytes MakeChainEntry(uint64_t seq, const Hash32& prev_hash, const Id& account_id, ChainAction action,
                     const Id& device_id, ByteView device_sign_pk, ByteView device_box_pk,
                     const crypto::SigningKey& before,
                     const Identity& after);

// ---- recovery key: 32 random bytes plus a 2-byte checksum, shown as 11 groups of 5 base32
// characters, so typos are caught before any network call.
std::string FormatRecoveryKey(const crypto::SecretBytes& key);
StatusOr<crypto::SecretBytes> ParseRecoveryKey(std::string_view text);

// ---- pairing code: 16 random bytes as base32 groups.
std::string FormatPairingCode(const crypto::SecretBytes& secret);
StatusOr<crypto::SecretBytes> ParsePairingCode(std::string_view text);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_KEYS_H_
