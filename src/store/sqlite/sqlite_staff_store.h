// SqliteStaffStore: the StaffStore on the same SQLite file as SqliteMetaStore.
//
// It opens its own connection (WAL lets several connections, and processes, share the file)
// and keeps its own tables and its own schema version table (staff_schema_version), so the
// metadata schema and its migrations are untouched. Durability and locking are those of
// SqliteMetaStore: WAL, synchronous=FULL, BEGIN IMMEDIATE for every write, one connection
// guarded by one mutex, busy_timeout 5 s against other processes.
//
// The log tables are append-only by contract (the store never updates or deletes a row of
// them); that does not stop someone with write access to the file, which is why clients
// verify the signed hash chain (docs/THREAT_MODEL.md "Access log").
#ifndef COFFER_STORE_SQLITE_SQLITE_STAFF_STORE_H_
#define COFFER_STORE_SQLITE_SQLITE_STAFF_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "store/sqlite/sqlite_db.h"
#include "store/staff_store.h"

namespace coffer::store {

class SqliteStaffStore : public StaffStore {
 public:
  // Opens or creates the database at `path` and applies pending staff-schema migrations.
  // kFailedPrecondition: written by a newer staff schema, or WAL cannot be enabled.
  static StatusOr<std::unique_ptr<SqliteStaffStore>> Open(const std::string& path);
  ~SqliteStaffStore() override;
  SqliteStaffStore(const SqliteStaffStore&) = delete;
  SqliteStaffStore& operator=(const SqliteStaffStore&) = delete;

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
  explicit SqliteStaffStore(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}
  StatusOr<StaffRecord> QueryStaff(const char* sql, const std::string& value);
  StatusOr<LogHead> QueryHead(const char* sql, const std::string* account_id);

  std::mutex mu_;
  std::unique_ptr<sqlite::Db> db_;  // guarded by mu_
};

}  // namespace coffer::store

#endif  // COFFER_STORE_SQLITE_SQLITE_STAFF_STORE_H_
