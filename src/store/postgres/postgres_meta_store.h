// PostgresMetaStore: the MetaStore on PostgreSQL (libpq), for running several coffer-server
// processes against one database.
//
// Concurrency, across threads and across server processes: every write that depends on a
// read (compare-and-set on a collection head, the device chain length, the keyring version;
// the quota check before a charge) runs in a READ COMMITTED transaction that first locks the
// account's row with SELECT ... FOR UPDATE. All such writes of one account therefore run one
// after another, whichever process sends them, and each sees the previous one's commit;
// different accounts never wait for each other. This was chosen over SERIALIZABLE with retry
// because every one of these writes also updates accounts.used_bytes, so under SERIALIZABLE
// they would conflict on that row anyway, only later (after doing the work) and with retry
// loops; the row lock makes the order explicit and the outcome deterministic. Primary keys
// back it up: a duplicate revision/seq can never be stored, whatever the code above does.
// Single-row writes (sessions, devices, sealed keys, messages, settings) are single
// statements (upserts with the compare in their WHERE clause) and need no lock.
//
// Connections: a bounded pool (pool_size, default 8). A connection the server closed while
// it sat in the pool is noticed and replaced before use; an operation that loses its
// connection is retried once on a new one if it cannot have committed (reads, and writes
// whose COMMIT was not sent), otherwise it fails with kUnavailable and the caller retries
// (every write here is a compare-and-set or idempotent, so a retry is safe for the client).
//
// URL: see pg::ParseConnectionUrl (postgresql://user@host:port/db?sslmode=...&schema=...).
// Errors: kUnavailable when the server cannot be reached (the message names host:port and
// never the password); kFailedPrecondition for a schema newer than this server or missing
// privileges; other codes as the MetaStore contract says.
//
// Integer fields: uint64 values are stored as bigint bit patterns (as in SQLite). Values that
// SQL compares (revision numbers, chain seq, keyring versions, sealed-key epochs, checkpoint
// numbers, chunk sizes) must be below 2^63, else kInvalidArgument. Text fields must be valid
// UTF-8 without NUL bytes (PostgreSQL text), else kInvalidArgument.
#ifndef COFFER_STORE_POSTGRES_POSTGRES_META_STORE_H_
#define COFFER_STORE_POSTGRES_POSTGRES_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "store/meta_store.h"
#include "store/postgres/pg_conn.h"
#include "util/bytes.h"

namespace coffer::store {

class PostgresMetaStore : public MetaStore {
 public:
  // Connects (one connection, to fail early and clearly), applies pending schema migrations
  // and returns the store. kInvalidArgument for a malformed URL, kUnavailable if the server
  // cannot be reached or refuses the login.
  static StatusOr<std::unique_ptr<PostgresMetaStore>> Open(const std::string& url);

  PostgresMetaStore(const PostgresMetaStore&) = delete;
  PostgresMetaStore& operator=(const PostgresMetaStore&) = delete;
  ~PostgresMetaStore() override;

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
  // Visits chunks in chunk_id order in pages, holding no connection while `fn` runs. Chunks
  // added or deleted during the listing may or may not be shown.
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

  // For tests: the pool (to count connections or find their backend PIDs).
  pg::Pool& PoolForTesting() { return *pool_; }

 private:
  struct Usage {
    uint64_t quota_bytes = 0;
    uint64_t used_bytes = 0;
  };

  explicit PostgresMetaStore(std::unique_ptr<pg::Pool> pool);

  // Runs fn(Connection&) on a pooled connection; see the class comment for retries. Failures
  // of the database itself get `what` prepended, so a log line names the operation.
  template <typename Fn>
  auto Run(const std::string& what, Fn&& fn) -> decltype(fn(std::declval<pg::Connection&>()));

  // In an open transaction: locks the account row, kNotFound if there is none.
  static StatusOr<Usage> LockAccount(pg::Connection& conn, const std::string& account_id);
  static Status StoreUsedBytes(pg::Connection& conn, const std::string& account_id, uint64_t used_bytes);
  static StatusOr<uint64_t> LoadHead(pg::Connection& conn, const std::string& account_id,
                                     const std::string& collection_id);
  // A single-row UPDATE of accounts; kNotFound if the account does not exist.
  Status UpdateAccount(const std::string& what, const std::string& account_id, const std::string& sql,
                       const pg::Params& params);

  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace coffer::store

#endif  // COFFER_STORE_POSTGRES_POSTGRES_META_STORE_H_
