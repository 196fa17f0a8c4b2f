// MetaStore: everything the server keeps except chunk bytes.
//
// The server is untrusted: every `Bytes` field here is opaque ciphertext or signed data that
// only clients interpret (docs/FORMAT.md). The store enforces the compare-and-set rules that
// keep journals linear; clients verify everything else.
//
// Implementations: SQLite in WAL mode (store/sqlite, the embedded default), PostgreSQL
// (store/postgres, for several server instances). Every implementation must be thread-safe (the server calls it from several
// threads), make each method atomic (a crash leaves either all of it or none), be durable
// when it returns OK, and pass store/testing/meta_store_conformance.
//
// Ids are lowercase hex strings (account ids 32 hex, device ids 32 hex, collection ids 32 hex,
// chunk ids 64 hex). Times are unix seconds.
#ifndef COFFER_STORE_META_STORE_H_
#define COFFER_STORE_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store {

struct AccountRecord {
  std::string account_id;
  std::string email;             // unique, stored lower-cased by the server
  int64_t created_at = 0;
  std::string login_hash;        // server's slow hash of the client's login verifier
  Bytes login_salt;              // Argon2id salt the client uses for its verifier
  uint64_t kdf_ops = 0;
  uint64_t kdf_mem = 0;
  std::string recovery_hash;     // slow hash of the recovery-key-derived verifier
  Bytes recovery_blob;           // account key wrapped under the recovery key (opaque)
  uint64_t quota_bytes = 0;      // 0 = unlimited
  uint64_t used_bytes = 0;       // chunks + revisions + checkpoints
  bool locked = false;
  int64_t last_activity = 0;
};

enum class DeviceStatus { kPending = 0, kActive = 1, kRevoked = 2 };

struct DeviceRecord {
  std::string account_id;
  std::string device_id;
  Bytes sign_public_key;
  Bytes box_public_key;
  std::string name;  // chosen by the user; the device's label (shown in `device list`)
  DeviceStatus status = DeviceStatus::kPending;
  int64_t created_at = 0;
};

enum class SessionKind { kDevice = 0, kPending = 1, kRecovery = 2 };

struct SessionRecord {
  Bytes token_hash;  // SHA-256 of the bearer token; the token itself is never stored
  std::string account_id;
  std::string device_id;
  SessionKind kind = SessionKind::kPending;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct CollectionHead {
  std::string collection_id;
  uint64_t head = 0;  // number of the newest revision; 0 = empty
};

struct RevisionRecord {
  uint64_t number = 0;
  Bytes data;
};

struct ChunkRecord {
  std::string chunk_id;
  uint64_t size = 0;
  Bytes sha256;  // of the stored ciphertext; checked before serving
  int64_t created_at = 0;
  // Where the bytes live: empty = a blob of its own (ChunkBlobKey); otherwise the pack blob
  // `pack_id` of the account, `size` bytes from `pack_offset` (several chunks uploaded in one
  // request share one blob, one fsync and one index transaction).
  std::string pack_id;
  uint64_t pack_offset = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // --- accounts ---
  // kAlreadyExists if the email or account id is taken.
  virtual Status CreateAccount(const AccountRecord& account) = 0;
  virtual StatusOr<AccountRecord> GetAccountByEmail(const std::string& email) = 0;  // kNotFound
  virtual StatusOr<AccountRecord> GetAccount(const std::string& account_id) = 0;    // kNotFound
  // Replaces login_hash, login_salt, kdf_ops, kdf_mem.
  virtual Status UpdateLogin(const std::string& account_id, const std::string& login_hash,
                             ByteView login_salt, uint64_t kdf_ops, uint64_t kdf_mem) = 0;
  virtual Status UpdateRecovery(const std::string& account_id, const std::string& recovery_hash,
                                ByteView recovery_blob) = 0;
  virtual Status SetLocked(const std::string& account_id, bool locked) = 0;
  virtual Status SetQuota(const std::string& account_id, uint64_t quota_bytes) = 0;
  virtual Status TouchActivity(const std::string& account_id, int64_t now) = 0;

  // --- login rate limiting (keyed by e.g. "email:<addr>" or "ip:<addr>") ---
  virtual Status RecordLoginFailure(const std::string& key, int64_t now) = 0;
  virtual StatusOr<int> CountLoginFailures(const std::string& key, int64_t since) = 0;
  virtual Status ClearLoginFailures(const std::string& key) = 0;

  // --- sessions ---
  virtual Status CreateSession(const SessionRecord& session) = 0;
  // kNotFound if unknown or expired at `now`.
  virtual StatusOr<SessionRecord> GetSession(ByteView token_hash, int64_t now) = 0;
  virtual Status DeleteSession(ByteView token_hash) = 0;
  virtual Status DeleteDeviceSessions(const std::string& account_id, const std::string& device_id) = 0;
  // Converts every session of the device to `kind` (a pending device that was approved).
  virtual Status SetDeviceSessionsKind(const std::string& account_id, const std::string& device_id,
                                       SessionKind kind) = 0;

  // --- devices ---
  // Inserts, or updates keys/name/status of an existing (account_id, device_id).
  virtual Status PutDevice(const DeviceRecord& device) = 0;
  virtual StatusOr<DeviceRecord> GetDevice(const std::string& account_id, const std::string& device_id) = 0;
  virtual StatusOr<std::vector<DeviceRecord>> ListDevices(const std::string& account_id) = 0;

  // --- device chain: append-only list of signed entries, numbered from 0 ---
  // Appends entry number `seq`; kAborted unless seq == current length.
  virtual Status AppendChainEntry(const std::string& account_id, uint64_t seq, ByteView entry) = 0;
  virtual StatusOr<std::vector<Bytes>> GetChain(const std::string& account_id, uint64_t from_seq) = 0;

  // --- sealed account keys: one per device, the newest epoch wins ---
  virtual Status PutSealedKey(const std::string& account_id, const std::string& device_id,
                              uint64_t epoch, ByteView blob) = 0;
  virtual StatusOr<std::pair<uint64_t, Bytes>> GetSealedKey(const std::string& account_id,
                                                            const std::string& device_id) = 0;  // kNotFound

  // --- keyring: one versioned blob per account ---
  // Stores version `version`; kAborted unless version == current version + 1 (0 = none yet).
  virtual Status PutKeyring(const std::string& account_id, uint64_t version, ByteView blob) = 0;
  virtual StatusOr<std::pair<uint64_t, Bytes>> GetKeyring(const std::string& account_id) = 0;  // kNotFound

  // --- collections: append-only journals of revisions numbered from 1 ---
  // Appends revision `number` to the collection (creating it at number 1) and adds
  // data.size() to used_bytes, in one transaction. kAborted unless number == head + 1.
  // kResourceExhausted if the account quota would be exceeded.
  virtual Status AppendRevision(const std::string& account_id, const std::string& collection_id,
                                uint64_t number, ByteView data) = 0;
  // Revisions with number >= from, ascending, at most `limit` of them and at most
  // `max_bytes` in total (at least one if any exists).
  virtual StatusOr<std::vector<RevisionRecord>> GetRevisions(const std::string& account_id,
                                                             const std::string& collection_id,
                                                             uint64_t from, size_t limit,
                                                             size_t max_bytes) = 0;
  virtual StatusOr<std::vector<CollectionHead>> ListCollections(const std::string& account_id) = 0;
  // Head of one collection; 0 if it does not exist.
  virtual StatusOr<uint64_t> GetHead(const std::string& account_id, const std::string& collection_id) = 0;

  // Checkpoints: a snapshot blob at revision `number` (<= head). Newer replaces older.
  virtual Status PutCheckpoint(const std::string& account_id, const std::string& collection_id,
                               uint64_t number, ByteView data) = 0;
  virtual StatusOr<RevisionRecord> GetCheckpoint(const std::string& account_id,
                                                 const std::string& collection_id) = 0;  // kNotFound

  // --- chunk index (the bytes live in the BlobStore) ---
  // Records a chunk and adds its size to used_bytes. Returns true if inserted, false if it
  // already existed (then nothing changes). kResourceExhausted if over quota.
  virtual StatusOr<bool> AddChunk(const std::string& account_id, const ChunkRecord& chunk) = 0;
  // Records several chunks in one transaction: all or nothing. Returns, per chunk, whether
  // it was inserted (false: already recorded, nothing changes for it). kResourceExhausted
  // (and nothing recorded) if the new ones together exceed the quota.
  virtual StatusOr<std::vector<bool>> AddChunks(const std::string& account_id,
                                                const std::vector<ChunkRecord>& chunks) = 0;
  virtual StatusOr<ChunkRecord> GetChunk(const std::string& account_id, const std::string& chunk_id) = 0;
  // For each id, whether the account has it.
  virtual StatusOr<std::vector<bool>> HaveChunks(const std::string& account_id,
                                                 const std::vector<std::string>& chunk_ids) = 0;
  virtual Status ListChunks(const std::string& account_id,
                            const std::function<bool(const ChunkRecord&)>& fn) = 0;
  // Moves created_at of the listed chunks that exist forward to `now` (never backwards).
  // The server calls it when a client learns that a chunk is present, because that client
  // may reference it in a revision without uploading it: garbage collection counts its grace
  // period from this time, so such a chunk is not deleted under the client.
  virtual Status TouchChunks(const std::string& account_id, const std::vector<std::string>& chunk_ids,
                             int64_t now) = 0;
  // Removes the record and subtracts its size from used_bytes. OK if absent.
  virtual Status DeleteChunk(const std::string& account_id, const std::string& chunk_id) = 0;

  // --- mailboxes: short-lived opaque messages (device pairing) ---
  // kAlreadyExists if (account_id, box, key) exists and has not expired.
  virtual Status PutMessage(const std::string& account_id, const std::string& box, const std::string& key,
                            ByteView data, int64_t expires_at) = 0;
  virtual StatusOr<Bytes> GetMessage(const std::string& account_id, const std::string& box,
                                     const std::string& key, int64_t now) = 0;  // kNotFound
  virtual Status DeleteExpiredMessages(int64_t now) = 0;

  // ADDED by the store module (not in the original contract): PutMessage, with "has not
  // expired" judged at the caller's `now` rather than by the store's wall clock. PutMessage
  // above has no `now`, so a store can only answer it with a clock of its own; callers that
  // inject time (the server's clock, tests) should use this form. As everywhere in this
  // interface, a message has expired once expires_at <= now. The default implementation only
  // keeps other MetaStore implementations compiling: it ignores `now` and calls PutMessage.
  // An implementation that overrides this may implement PutMessage as PutMessageAt(..., wall
  // clock), as SqliteMetaStore does (never without overriding it: that would recurse).
  virtual Status PutMessageAt(const std::string& account_id, const std::string& box, const std::string& key,
                              ByteView data, int64_t expires_at, int64_t now) {
    return PutMessage(account_id, box, key, data, expires_at);
  }

  // --- server-wide settings (e.g. the secret used for fake login salts) ---
  virtual StatusOr<Bytes> GetSetting(const std::string& name) = 0;  // kNotFound
  virtual Status PutSetting(const std::string& name, ByteView value) = 0;

  // --- enumeration, for migration ---
  // Added for `coffer-server migrate` (src/server/migrate.h), which copies a whole server from
  // one engine to another and so must find everything the per-account methods above address.
  struct SealedKeyEntry {
    std::string device_id;
    uint64_t epoch = 0;
    Bytes blob;
  };
  // Ids of the accounts whose id is greater than `after` ("" = from the first), ascending by
  // id (bytewise), at most `limit` of them (limit 0 = none). Keyset paging: pass the last id
  // of one page as `after` of the next.
  virtual StatusOr<std::vector<std::string>> ListAccountIds(const std::string& after, size_t limit) = 0;
  // Names of all server-wide settings, ascending (bytewise).
  virtual StatusOr<std::vector<std::string>> ListSettingNames() = 0;
  // Every sealed key of the account (one per device id, the stored epoch), ascending by device
  // id; empty for an unknown account.
  virtual StatusOr<std::vector<SealedKeyEntry>> ListSealedKeys(const std::string& account_id) = 0;
};

}  // namespace coffer::store

#endif  // COFFER_STORE_META_STORE_H_
