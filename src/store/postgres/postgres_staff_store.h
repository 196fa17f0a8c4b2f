// PostgresStaffStore: the StaffStore (support console: staff accounts and sessions, grants,
// reset codes, the per-account access log and the global log) on PostgreSQL, in the same
// database and schema as PostgresMetaStore, so that several coffer-server processes share it.
//
// Schema: its own tables (the same names and columns as SqliteStaffStore) and its own
// migrations table, staff_schema_migrations, applied on Open under a session advisory lock
// keyed by the schema name, each migration in its own transaction: servers starting together
// apply each one exactly once, and the metadata schema and its migrations are untouched. A
// database written by a newer staff schema is refused (kFailedPrecondition), not touched.
//
// Access log appends, across threads and server processes: AppendLogEntry reads both logs'
// lengths and inserts both rows in one READ COMMITTED transaction; the primary keys
// (account_id, seq) and (seq) are what makes the compare-and-set hold. Two writers that read
// the same length insert the same key: the second waits for the first to commit, then gets
// a unique violation and answers kAborted (the server rebuilds both entries on the new heads
// and retries). Committed rows are therefore always numbered 0..n-1 without a gap or a
// duplicate in both logs. Rows are only ever inserted, never updated or deleted. The
// access-log row is always inserted before the global-log row, so two appends cannot wait
// on each other in a cycle.
//
// Disabling a staff member locks their row (FOR UPDATE, which also holds back the foreign-key
// check of a concurrent CreateStaffSession) before deleting their sessions, so every session
// is either deleted with the disable or created after it, as if the two had run one by one.
//
// Connections: a pool of its own (at most kMaxPoolSize, or pool_size if smaller: the console
// is light traffic), with PostgresMetaStore's retry rule: a lost connection is replaced and
// the operation retried once if nothing can have committed, else kUnavailable.
// URL: see pg::ParseConnectionUrl. Sequence numbers and `from` must be below 2^63.
#ifndef COFFER_STORE_POSTGRES_POSTGRES_STAFF_STORE_H_
#define COFFER_STORE_POSTGRES_POSTGRES_STAFF_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "store/postgres/pg_conn.h"
#include "store/staff_store.h"

namespace coffer::store {

class PostgresStaffStore : public StaffStore {
 public:
  static constexpr size_t kMaxPoolSize = 4;

  // Connects, applies pending staff-schema migrations and returns the store.
  // kInvalidArgument for a malformed URL, kUnavailable if the server cannot be reached,
  // kFailedPrecondition for a newer staff schema or missing privileges.
  static StatusOr<std::unique_ptr<PostgresStaffStore>> Open(const std::string& url);
  // The staff schema version this build creates.
  static int64_t LatestSchemaVersion();

  PostgresStaffStore(const PostgresStaffStore&) = delete;
  PostgresStaffStore& operator=(const PostgresStaffStore&) = delete;
  ~PostgresStaffStore() override;

  Status CreateStaff(const StaffRecord& staff) override;
  StatusOr<StaffRecord> GetStaff(const std::string& staff_id) override;
  StatusOr<StaffRecord> GetStaffByName(const std::string& name) override;
  StatusOr<std::vector<StaffRecord>> ListStaff() override;
  Status SetStaffDisabled(const std::string& staff_id, bool disabled) override;

  Status CreateStaffSession(const StaffSessionRecord& session) override;
  StatusOr<StaffSessionRecord> GetStaffSession(ByteView token_hash, int64_t now) override;
  Status DeleteStaffSession(ByteView token_hash) override;

  Status PutGrant(const GrantRecord& grant) override;
  StatusOr<GrantRecord> GetGrant(const std::string& grant_id) override;
  StatusOr<std::vector<GrantRecord>> ListGrants(const std::string& account_id) override;
  Status RevokeGrant(const std::string& account_id, const std::string& grant_id, int64_t now) override;

  Status PutResetCode(const std::string& account_id, ByteView code_hash, int64_t expires_at) override;
  StatusOr<Bytes> GetResetCode(const std::string& account_id, int64_t now) override;
  Status DeleteResetCode(const std::string& account_id) override;

  StatusOr<LogHead> GetLogHead(const std::string& account_id) override;
  StatusOr<LogHead> GetGlobalLogHead() override;
  Status AppendLogEntry(const std::string& account_id, uint64_t seq, ByteView entry, ByteView entry_hash,
                        uint64_t global_seq, ByteView global_entry, ByteView global_hash) override;
  StatusOr<std::vector<LogEntryRecord>> GetLogEntries(const std::string& account_id, uint64_t from,
                                                      size_t limit) override;
  StatusOr<std::vector<LogEntryRecord>> GetGlobalLogEntries(uint64_t from, size_t limit) override;

 private:
  explicit PostgresStaffStore(std::unique_ptr<pg::Pool> pool);

  // Runs fn(Connection&) on a pooled connection, retrying as the class comment says;
  // failures of the database itself get `what` prepended.
  template <typename Fn>
  auto Run(const std::string& what, Fn&& fn) -> decltype(fn(std::declval<pg::Connection&>()));

  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace coffer::store

#endif  // COFFER_STORE_POSTGRES_POSTGRES_STAFF_STORE_H_
