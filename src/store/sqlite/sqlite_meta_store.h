// SqliteMetaStore: the MetaStore on one SQLite file (the embedded default).
//
// Durability and atomicity: the file is in WAL mode with synchronous=FULL, so a commit is on
// disk (WAL fsynced) before a method returns OK and survives kill -9 and power loss. Every
// method is one statement or one transaction; writes use BEGIN IMMEDIATE so that the
// compare-and-set reads (chain length, keyring version, collection head, quota) and the
// writes based on them are one atomic step even against another process on the same file.
// Foreign keys are enforced, so no row can belong to a missing account.
//
// Concurrency: one connection guarded by one mutex. SQLite admits one writer at a time
// anyway, and the store's reads are short point lookups, so a pool would mostly add
// complexity; the price is that reads do not run in parallel with each other. Methods that
// call back into the caller (ListChunks) release the mutex around each callback, so a
// callback may use the store. Another process may share the file: busy_timeout makes it
// wait for the lock (up to 5 s, then kUnavailable).
//
// Integer fields: uint64 values are stored as int64 bit patterns. Values that SQL compares
// (revision numbers, chain seq, keyring versions, sealed-key epochs, checkpoint numbers,
// chunk sizes) must be below 2^63, else kInvalidArgument.
#ifndef COFFER_STORE_SQLITE_SQLITE_META_STORE_H_
#define COFFER_STORE_SQLITE_SQLITE_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"
#include "store/meta_store.h"
#include "store/sqlite/sqlite_db.h"
#include "util/bytes.h"

namespace coffer::store {

class SqliteMetaStore : public MetaStore {
 public:
  // Opens or creates the database at `path`, sets the pragmas and applies pending schema
  // migrations. kFailedPrecondition: the file was written by a newer schema version, or WAL
  // mode cannot be enabled. kDataLoss: not an SQLite database. kUnavailable: cannot open.
  static StatusOr<std::unique_ptr<SqliteMetaStore>> Open(const std::string& path);

  SqliteMetaStore(const SqliteMetaStore&) = delete;
  SqliteMetaStore& operator=(const SqliteMetaStore&) = delete;
  ~SqliteMetaStore() override;

  // --- accounts ---
  Status CreateAccount(const AccountRecord& account) override;
  StatusOr<AccountRecord> GetAccountByEmail(const std::string& email) override;
  StatusOr<AccountRecord> GetAccount(const std::string& account_id) override;
  Status UpdateLogin(const std::string& account_id, const std::string& login_hash, ByteView login_salt,
                     uint64_t kdf_ops, uint64_t kdf_mem) override;
  Status UpdateRecovery(const std::string& account_id, const std::string& recovery_hash,
                        ByteView recovery_blob) override;
  Status SetLocked(const std::string& account_id, bool locked) override;
  Status SetQuota(const std::string& account_id, uint64_t quota_bytes) override;
  Status TouchActivity(const std::string& account_id, int64_t now) override;

  // --- login rate limiting ---
  Status RecordLoginFailure(const std::string& key, int64_t now) override;
  StatusOr<int> CountLoginFailures(const std::string& key, int64_t since) override;
  Status ClearLoginFailures(const std::string& key) override;

  // --- sessions ---
  Status CreateSession(const SessionRecord& session) override;
  StatusOr<SessionRecord> GetSession(ByteView token_hash, int64_t now) override;
  Status DeleteSession(ByteView token_hash) override;
  Status DeleteDeviceSessions(const std::string& account_id, const std::string& device_id) override;
  Status SetDeviceSessionsKind(const std::string& account_id, const std::string& device_id,
                               SessionKind kind) override;

  // --- devices ---
  Status PutDevice(const DeviceRecord& device) override;
  StatusOr<DeviceRecord> GetDevice(const std::string& account_id, const std::string& device_id) override;
  StatusOr<std::vector<DeviceRecord>> ListDevices(const std::string& account_id) override;

  // --- device chain ---
  Status AppendChainEntry(const std::string& account_id, uint64_t seq, ByteView entry) override;
  StatusOr<std::vector<Bytes>> GetChain(const std::string& account_id, uint64_t from_seq) override;

  // --- sealed account keys ---
  Status PutSealedKey(const std::string& account_id, const std::string& device_id, uint64_t epoch,
                      ByteView blob) override;
  StatusOr<std::pair<uint64_t, Bytes>> GetSealedKey(const std::string& account_id,
                                                    const std::string& device_id) override;

  // --- keyring ---
  Status PutKeyring(const std::string& account_id, uint64_t version, ByteView blob) override;
  StatusOr<std::pair<uint64_t, Bytes>> GetKeyring(const std::string& account_id) override;

  // --- collections ---
  Status AppendRevision(const std::string& account_id, const std::string& collection_id, uint64_t number,
                        ByteView data) override;
  StatusOr<std::vector<RevisionRecord>> GetRevisions(const std::string& account_id,
                                                     const std::string& collection_id, uint64_t from,
                                                     size_t limit, size_t max_bytes) override;
  StatusOr<std::vector<CollectionHead>> ListCollections(const std::string& account_id) override;
  StatusOr<uint64_t> GetHead(const std::string& account_id, const std::string& collection_id) override;
  Status PutCheckpoint(const std::string& account_id, const std::string& collection_id, uint64_t number,
                       ByteView data) override;
  StatusOr<RevisionRecord> GetCheckpoint(const std::string& account_id,
                                         const std::string& collection_id) override;

  // --- chunk index ---
  StatusOr<bool> AddChunk(const std::string& account_id, const ChunkRecord& chunk) override;
  StatusOr<std::vector<bool>> AddChunks(const std::string& account_id,
                                        const std::vector<ChunkRecord>& chunks) override;
  StatusOr<ChunkRecord> GetChunk(const std::string& account_id, const std::string& chunk_id) override;
  StatusOr<std::vector<bool>> HaveChunks(const std::string& account_id,
                                         const std::vector<std::string>& chunk_ids) override;
  // Visits chunks in chunk_id order, reading them in pages and calling `fn` without holding
  // the store's lock. Chunks added or deleted during the listing may or may not be shown.
  Status ListChunks(const std::string& account_id,
                    const std::function<bool(const ChunkRecord&)>& fn) override;
  Status TouchChunks(const std::string& account_id, const std::vector<std::string>& chunk_ids,
                     int64_t now) override;
  Status DeleteChunk(const std::string& account_id, const std::string& chunk_id) override;

  // --- mailboxes ---
  // Judges expiry by the wall clock (the interface passes no `now`); see PutMessageAt.
  Status PutMessage(const std::string& account_id, const std::string& box, const std::string& key,
                    ByteView data, int64_t expires_at) override;
  Status PutMessageAt(const std::string& account_id, const std::string& box, const std::string& key,
                      ByteView data, int64_t expires_at, int64_t now) override;
  StatusOr<Bytes> GetMessage(const std::string& account_id, const std::string& box, const std::string& key,
                             int64_t now) override;
  Status DeleteExpiredMessages(int64_t now) override;

  // --- settings ---
  StatusOr<Bytes> GetSetting(const std::string& name) override;
  Status PutSetting(const std::string& name, ByteView value) override;

  // --- enumeration, for migration ---
  StatusOr<std::vector<std::string>> ListAccountIds(const std::string& after, size_t limit) override;
  StatusOr<std::vector<std::string>> ListSettingNames() override;
  StatusOr<std::vector<SealedKeyEntry>> ListSealedKeys(const std::string& account_id) override;

  // The value of `PRAGMA <name>` on the store's connection (e.g. "synchronous"), as text.
  // For tests that check the durability settings.
  StatusOr<std::string> PragmaForTesting(std::string_view name);

 private:
  struct Usage {
    uint64_t quota_bytes = 0;
    uint64_t used_bytes = 0;
  };

  explicit SqliteMetaStore(std::unique_ptr<sqlite::Db> db);

  // Helpers; the caller holds mu_ (and, for writes, an open transaction).
  StatusOr<Usage> LoadUsage(const std::string& account_id);
  Status StoreUsedBytes(const std::string& account_id, uint64_t used_bytes);
  StatusOr<uint64_t> LoadHead(const std::string& account_id, const std::string& collection_id);
  StatusOr<AccountRecord> QueryAccount(std::string_view where_column, const std::string& value);
  // Runs a single-row UPDATE of accounts; kNotFound if the account does not exist.
  Status UpdateAccount(sqlite::Stmt& stmt, const std::string& account_id, std::string_view what);

  // Runs `fn` (which returns Status or StatusOr) with mu_ held.
  template <typename Fn>
  auto Locked(const std::string& what, Fn&& fn) -> decltype(fn());

  std::mutex mu_;
  std::unique_ptr<sqlite::Db> db_;  // guarded by mu_
};

}  // namespace coffer::store

#endif  // COFFER_STORE_SQLITE_SQLITE_META_STORE_H_
