// Vault: one device profile's view of its account. Owns the server connection, the local
// state DB and, once unlocked, the account's keys.
//
// Unlock() is where the untrusted server's key material is verified (R1, R4, R10, G4):
// the device chain is verified from the pinned genesis and must extend what this device saw
// before; the sealed account key and the keyring must be signed by the chain's current
// identity and not be older than what was seen; the keyring's identity must match the chain.
// Thread-safety: not thread-safe; one Vault per thread.
#ifndef COFFER_CLIENT_VAULT_H_
#define COFFER_CLIENT_VAULT_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/api_client.h"
#include "client/formats.h"
#include "client/keys.h"
#include "client/local_state.h"
#include "crypto/secret.h"

namespace coffer::client {

struct ClientOptions {
  std::string home;        // profile directory
  std::string server_url;  // overrides the profile's saved server if non-empty
  std::string ca_file;     // extra CA bundle for https servers
};

struct ContentEpochKeys {
  uint32_t epoch = 0;
  crypto::SecretBytes chunk_id_key;
  crypto::SecretBytes chunk_enc_key;
  crypto::SecretBytes gear_key;
};

struct CollectionInfo {
  Id id{};
  std::string name;
  std::string kind;
  std::map<uint32_t, crypto::SecretBytes> keys;  // epoch -> collection key
  uint32_t current_epoch() const { return keys.empty() ? 0 : keys.rbegin()->first; }
};

// The account's keys after a verified unlock.
struct UnlockedKeys {
  crypto::SecretBytes account_key;
  uint64_t ak_epoch = 0;
  uint64_t keyring_version = 0;
  Identity identity;
  Bytes recovery_public_key;  // seals the account key for the recovery key's holder
  Hash32 genesis_hash{};
  std::map<uint32_t, ContentEpochKeys> content;  // epoch -> keys
  std::map<Id, CollectionInfo> collections;
  std::map<Id, std::string> device_names;  // kept here, encrypted, never in the chain
  const ContentEpochKeys& current_content() const { return content.rbegin()->second; }
};

struct DeviceView {
  std::string id;
  std::string name;
  std::string status;  // from the verified chain: "active" | "revoked"; "pending" = server-only
  bool this_device = false;
  int64_t added = 0;
};

class Vault {
 public:
  static StatusOr<std::unique_ptr<Vault>> Open(const ClientOptions& options);
  ~Vault();

  // True once this profile belongs to an account (created, paired or recovered).
  bool enrolled() const;
  std::string email() const;
  std::string server_url() const { return server_url_; }
  // A new connection with this vault's session, for parallel transfers on other threads.
  StatusOr<std::unique_ptr<ApiClient>> NewConnection() const;
  const std::string& home() const { return home_; }
  const DeviceKeys& device() const { return *device_; }
  ApiClient& api() { return *api_; }
  LocalState& state() { return *state_; }
  const Id& account_id() const { return account_id_; }

  // Creates an account with this profile as its first device. Returns the recovery key,
  // which is shown once and stored nowhere.
  StatusOr<crypto::SecretBytes> CreateAccount(const std::string& email, const crypto::SecretBytes& password,
                                              const std::string& device_name);
  // Password login for an enrolled device (after logout or a reset).
  Status Login(const crypto::SecretBytes& password);
  Status Logout();

  // Ensures a session, verifies the chain, opens the account key and keyring.
  Status Unlock();
  // Ensures a session only, no keys: for `coffer audit`, whose log routes stay open on an
  // account staff locked (every other route, and a new login, answer 423 there).
  Status Connect() { return EnsureSession(); }
  const UnlockedKeys& keys() const { return *keys_; }
  const ChainState& chain() const { return *chain_; }
  const CollectionInfo* FindCollection(const std::string& name) const;

  // --- pairing (G4) ---
  // On the new device: logs in with the password as a pending device, posts a pairing
  // request and returns the code to type on an enrolled device.
  StatusOr<std::string> StartLink(const std::string& email, const crypto::SecretBytes& password,
                                  const std::string& device_name);
  // On the new device: waits for the approval, then pins and verifies the account.
  Status FinishLink(int timeout_seconds);
  // On an enrolled device: approves the device that shows `code`. Returns its name.
  StatusOr<std::string> Approve(const std::string& code);

  // Revokes a device and rotates the identity, account key, content keys and collection keys
  // (G7). Crash-safe: the prepared writes are saved locally first and resumed by Unlock().
  Status Revoke(const std::string& device_id_hex);

  // A new device from the recovery key (G5). `new_password` (optional) replaces the login.
  Status Recover(const std::string& email, const crypto::SecretBytes& recovery_key,
                 const std::string& device_name, const crypto::SecretBytes* new_password);

  StatusOr<std::vector<DeviceView>> ListDevices();

  // Seals the account key for `device` (box key) at the current epoch, signed by the identity.
  Bytes SealAccountKeyFor(const Id& device_id, ByteView box_pk, uint64_t chain_len) const;

 private:
  Vault() = default;
  Status EnsureSession();
  Status DeviceKeyLogin();
  Status SaveSession(const SessionInfo& s);
  Bytes LoginSignature(const std::string& email, int64_t time) const;
  DeviceInfo MyDeviceInfo() const;
  Status LoadOrCreateDeviceKeys(const std::string& name);
  Status RequireNotEnrolled() const;
  Status VerifyAndLoadKeys();
  Status ResumePendingRotation();
  Status WriteRotationMarkers();
  Status SaveSeenChain(const ChainState& chain);
  // Applies `mutate` to the keys and stores the next keyring version (compare-and-set; on a
  // conflict it re-reads the keyring and applies `mutate` again).
  Status UpdateKeyring(const std::function<void(UnlockedKeys&)>& mutate);

  std::string home_;
  std::string server_url_;
  std::string ca_file_;
  std::unique_ptr<LocalState> state_;
  std::unique_ptr<ApiClient> api_;
  std::optional<DeviceKeys> device_;
  Id account_id_{};
  std::unique_ptr<UnlockedKeys> keys_;
  std::unique_ptr<ChainState> chain_;
  crypto::SecretBytes pairing_secret_;  // between StartLink and FinishLink
};

inline constexpr size_t kMaxDeviceNameBytes = 64;
// 1..64 bytes, no control characters (names are shown on other devices' terminals).
Status ValidateDeviceName(const std::string& name);

// Encrypts/decrypts the keyring (FORMAT.md §5).
Bytes SealKeyring(const UnlockedKeys& keys, const Id& account_id, uint64_t version, uint64_t chain_len);

// Opens the account's keys from the two blobs the server returned for this device: the
// sealed account key (FORMAT.md §4) and the keyring (§5), against the verified device chain
// and the floors this device saw before (rollback). Both must be signed by the chain's
// identity, name this account (and device), and decrypt; the keyring's identity and genesis
// must match the chain. Every failure is kSecurity and returns nothing: no partly opened key
// is ever used (R1, R2).
StatusOr<std::unique_ptr<UnlockedKeys>> OpenAccountKeys(const ChainState& chain, const DeviceKeys& device,
                                                        const Id& account_id, uint64_t seen_ak_epoch,
                                                        uint64_t seen_keyring_version, ByteView sealed_key,
                                                        ByteView keyring);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_VAULT_H_
