#include "store/sqlite/sqlite_staff_store.h"

#include <iterator>
#include <limits>
#include <string>
#include <utility>

namespace coffer::store {
namespace {

using sqlite::Stmt;
using sqlite::Transaction;

constexpr int kBusyTimeoutMs = 5000;

struct Migration {
  int64_t version;
  const char* sql;
};

// Never edit a shipped migration; append a new one. Account ids are not foreign keys: the
// accounts table belongs to the metadata schema, which this store does not own (and a
// PostgreSQL deployment may keep the two in different schemas).
constexpr Migration kStaffMigrations[] = {
    {1, R"sql(
CREATE TABLE staff (
  staff_id    TEXT    NOT NULL PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  role        TEXT    NOT NULL,
  secret_hash TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  disabled    INTEGER NOT NULL
);
CREATE TABLE staff_sessions (
  token_hash BLOB    NOT NULL PRIMARY KEY,
  staff_id   TEXT    NOT NULL REFERENCES staff (staff_id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);
CREATE TABLE grants (
  grant_id   TEXT    NOT NULL PRIMARY KEY,
  account_id TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  scopes     INTEGER NOT NULL,
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL,                   -- 0 = not revoked
  encoded    BLOB    NOT NULL
);
CREATE INDEX grants_by_account ON grants (account_id, issued_at);
CREATE TABLE reset_codes (
  account_id TEXT    NOT NULL PRIMARY KEY,
  code_hash  BLOB    NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE access_log (
  account_id TEXT    NOT NULL,
  seq        INTEGER NOT NULL,                   -- 0, 1, 2, ... without gaps
  entry      BLOB    NOT NULL,
  hash       BLOB    NOT NULL,
  PRIMARY KEY (account_id, seq)
);
CREATE TABLE global_log (
  seq   INTEGER NOT NULL PRIMARY KEY,            -- 0, 1, 2, ... without gaps
  entry BLOB    NOT NULL,
  hash  BLOB    NOT NULL
);
)sql"},
};

int64_t LatestStaffSchemaVersion() { return std::end(kStaffMigrations)[-1].version; }

Status MigrateStaffSchema(sqlite::Db& db) {
  const std::string what = "migrate staff schema of " + db.path();
  Transaction txn(&db);
  COFFER_RETURN_IF_ERROR(txn.BeginImmediate().WithContext(what));
  COFFER_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS staff_schema_version (version INTEGER NOT NULL PRIMARY KEY)")
          .WithContext(what));
  int64_t current = 0;
  {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT COALESCE(MAX(version), 0) FROM staff_schema_version"));
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) current = q.ColumnInt(0);
  }
  if (current > LatestStaffSchemaVersion()) {
    return FailedPreconditionError("database " + db.path() + " has staff schema version " +
                                   std::to_string(current) + ", newer than the " +
                                   std::to_string(LatestStaffSchemaVersion()) +
                                   " this server supports; upgrade the server");
  }
  for (const Migration& m : kStaffMigrations) {
    if (m.version <= current) continue;
    COFFER_RETURN_IF_ERROR(db.Exec(m.sql).WithContext(what));
    COFFER_ASSIGN_OR_RETURN(Stmt ins, db.Prepare("INSERT INTO staff_schema_version (version) VALUES (?)"));
    COFFER_RETURN_IF_ERROR(ins.Bind(1, m.version).Run().WithContext(what));
  }
  return txn.Commit().WithContext(what);
}

constexpr const char* kStaffColumns = "staff_id, name, role, secret_hash, created_at, disabled";

StaffRecord ReadStaff(const Stmt& s) {
  StaffRecord r;
  r.staff_id = s.ColumnText(0);
  r.name = s.ColumnText(1);
  r.role = s.ColumnText(2);
  r.secret_hash = s.ColumnText(3);
  r.created_at = s.ColumnInt(4);
  r.disabled = s.ColumnInt(5) != 0;
  return r;
}

constexpr const char* kGrantSelect =
    "SELECT grant_id, account_id, device_id, scopes, issued_at, expires_at, revoked_at, encoded FROM grants ";

GrantRecord ReadGrant(const Stmt& s) {
  GrantRecord g;
  g.grant_id = s.ColumnText(0);
  g.account_id = s.ColumnText(1);
  g.device_id = s.ColumnText(2);
  g.scopes = static_cast<uint32_t>(s.ColumnInt(3));
  g.issued_at = s.ColumnInt(4);
  g.expires_at = s.ColumnInt(5);
  g.revoked_at = s.ColumnInt(6);
  g.encoded = s.ColumnBlob(7);
  return g;
}

Status CheckOrdered(uint64_t value, std::string_view what) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgumentError(std::string(what) + " is out of range (max 2^63-1)");
  }
  return OkStatus();
}

int64_t ClampLimit(size_t limit) {
  return static_cast<int64_t>(std::min<size_t>(limit, static_cast<size_t>(1) << 31));
}

}  // namespace

SqliteStaffStore::~SqliteStaffStore() = default;

StatusOr<std::unique_ptr<SqliteStaffStore>> SqliteStaffStore::Open(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("staff database path is empty");
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Db> db, sqlite::Db::Open(path));
  const std::string what = "open staff tables in " + path;
  sqlite3_busy_timeout(db->handle(), kBusyTimeoutMs);
  {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db->Prepare("PRAGMA journal_mode = WAL"));
    auto row = q.Step();
    if (!row.ok()) return row.status().WithContext(what);
    const std::string mode = *row ? q.ColumnText(0) : "";
    if (mode != "wal") {
      return FailedPreconditionError(what + ": cannot enable WAL mode (journal_mode is \"" + mode + "\")");
    }
  }
  // The access log must survive power loss as surely as the actions it records.
  COFFER_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON").WithContext(what));
  COFFER_RETURN_IF_ERROR(MigrateStaffSchema(*db));
  return std::unique_ptr<SqliteStaffStore>(new SqliteStaffStore(std::move(db)));
}

// ---- staff ----

Status SqliteStaffStore::CreateStaff(const StaffRecord& s) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt ins, db_->Prepare(std::string("INSERT INTO staff (") + kStaffColumns +
                                                 ") VALUES (?, ?, ?, ?, ?, ?)"));
  ins.Bind(1, s.staff_id).Bind(2, s.name).Bind(3, s.role).Bind(4, s.secret_hash).Bind(5, s.created_at);
  ins.Bind(6, int64_t{s.disabled ? 1 : 0});
  return ins.Run();
}

StatusOr<StaffRecord> SqliteStaffStore::QueryStaff(const char* where, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare(std::string("SELECT ") + kStaffColumns + " FROM staff " + where));
  q.Bind(1, value);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("no such staff member");
  return ReadStaff(q);
}

StatusOr<StaffRecord> SqliteStaffStore::GetStaff(const std::string& staff_id) {
  return QueryStaff("WHERE staff_id = ?", staff_id);
}

StatusOr<StaffRecord> SqliteStaffStore::GetStaffByName(const std::string& name) {
  return QueryStaff("WHERE name = ?", name);
}

StatusOr<std::vector<StaffRecord>> SqliteStaffStore::ListStaff() {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare(std::string("SELECT ") + kStaffColumns + " FROM staff ORDER BY name"));
  std::vector<StaffRecord> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadStaff(q));
  }
  return out;
}

Status SqliteStaffStore::SetStaffDisabled(const std::string& staff_id, bool disabled) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction txn(db_.get());
  COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
  {
    COFFER_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE staff SET disabled = ? WHERE staff_id = ?"));
    COFFER_RETURN_IF_ERROR(u.Bind(1, int64_t{disabled ? 1 : 0}).Bind(2, staff_id).Run());
    if (db_->Changes() == 0) return NotFoundError("no staff member with id " + staff_id);
  }
  if (disabled) {
    COFFER_ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM staff_sessions WHERE staff_id = ?"));
    COFFER_RETURN_IF_ERROR(d.Bind(1, staff_id).Run());
  }
  return txn.Commit();
}

// ---- staff sessions ----

Status SqliteStaffStore::CreateStaffSession(const StaffSessionRecord& s) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt ins, db_->Prepare("INSERT INTO staff_sessions (token_hash, staff_id, created_at, "
                                                 "expires_at) VALUES (?, ?, ?, ?)"));
  return ins.Bind(1, s.token_hash).Bind(2, s.staff_id).Bind(3, s.created_at).Bind(4, s.expires_at).Run();
}

StatusOr<StaffSessionRecord> SqliteStaffStore::GetStaffSession(ByteView token_hash, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT token_hash, staff_id, created_at, expires_at FROM "
                                               "staff_sessions WHERE token_hash = ? AND expires_at > ?"));
  q.Bind(1, token_hash).Bind(2, now);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("staff session unknown or expired");
  return StaffSessionRecord{q.ColumnBlob(0), q.ColumnText(1), q.ColumnInt(2), q.ColumnInt(3)};
}

Status SqliteStaffStore::DeleteStaffSession(ByteView token_hash) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM staff_sessions WHERE token_hash = ?"));
  return d.Bind(1, token_hash).Run();
}

// ---- grants ----

Status SqliteStaffStore::PutGrant(const GrantRecord& g) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt ins, db_->Prepare("INSERT INTO grants (grant_id, account_id, device_id, scopes, "
                                                 "issued_at, expires_at, revoked_at, encoded) VALUES "
                                                 "(?, ?, ?, ?, ?, ?, ?, ?)"));
  ins.Bind(1, g.grant_id).Bind(2, g.account_id).Bind(3, g.device_id).Bind(4, int64_t{g.scopes});
  ins.Bind(5, g.issued_at).Bind(6, g.expires_at).Bind(7, g.revoked_at).Bind(8, ByteView(g.encoded));
  Status st = ins.Run();
  // The engine's own text names tables and constraints; callers (and the 409 a client sees)
  // get the same message from every engine.
  if (st.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("grant " + g.grant_id + " already exists");
  return st;
}

StatusOr<GrantRecord> SqliteStaffStore::GetGrant(const std::string& grant_id) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare(std::string(kGrantSelect) + "WHERE grant_id = ?"));
  q.Bind(1, grant_id);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("no grant with id " + grant_id);
  return ReadGrant(q);
}

StatusOr<std::vector<GrantRecord>> SqliteStaffStore::ListGrants(const std::string& account_id) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(
      Stmt q, db_->Prepare(std::string(kGrantSelect) + "WHERE account_id = ? ORDER BY issued_at DESC, grant_id"));
  q.Bind(1, account_id);
  std::vector<GrantRecord> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadGrant(q));
  }
  return out;
}

Status SqliteStaffStore::RevokeGrant(const std::string& account_id, const std::string& grant_id, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction txn(db_.get());
  COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
  {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT revoked_at FROM grants WHERE grant_id = ? AND account_id = ?"));
    q.Bind(1, grant_id).Bind(2, account_id);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("this account has no grant with id " + grant_id);
    if (q.ColumnInt(0) != 0) return OkStatus();
  }
  COFFER_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE grants SET revoked_at = ? WHERE grant_id = ?"));
  COFFER_RETURN_IF_ERROR(u.Bind(1, now).Bind(2, grant_id).Run());
  return txn.Commit();
}

// ---- reset codes ----

Status SqliteStaffStore::PutResetCode(const std::string& account_id, ByteView code_hash, int64_t expires_at) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT OR REPLACE INTO reset_codes (account_id, code_hash, "
                                               "expires_at) VALUES (?, ?, ?)"));
  return s.Bind(1, account_id).Bind(2, code_hash).Bind(3, expires_at).Run();
}

StatusOr<Bytes> SqliteStaffStore::GetResetCode(const std::string& account_id, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(
      Stmt q, db_->Prepare("SELECT code_hash FROM reset_codes WHERE account_id = ? AND expires_at > ?"));
  q.Bind(1, account_id).Bind(2, now);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("no login-reset code for this account, or it expired");
  return q.ColumnBlob(0);
}

Status SqliteStaffStore::DeleteResetCode(const std::string& account_id) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM reset_codes WHERE account_id = ?"));
  return d.Bind(1, account_id).Run();
}

// ---- access log ----

StatusOr<LogHead> SqliteStaffStore::QueryHead(const char* sql, const std::string* account_id) {
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare(sql));
  if (account_id != nullptr) q.Bind(1, *account_id);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return LogHead{};
  return LogHead{q.ColumnU64(0) + 1, q.ColumnBlob(1)};
}

StatusOr<LogHead> SqliteStaffStore::GetLogHead(const std::string& account_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryHead("SELECT seq, hash FROM access_log WHERE account_id = ? ORDER BY seq DESC LIMIT 1", &account_id);
}

StatusOr<LogHead> SqliteStaffStore::GetGlobalLogHead() {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryHead("SELECT seq, hash FROM global_log ORDER BY seq DESC LIMIT 1", nullptr);
}

Status SqliteStaffStore::AppendLogEntry(const std::string& account_id, uint64_t seq, ByteView entry,
                                        ByteView entry_hash, uint64_t global_seq, ByteView global_entry,
                                        ByteView global_hash) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(seq, "log entry number"));
  COFFER_RETURN_IF_ERROR(CheckOrdered(global_seq, "global log entry number"));
  std::lock_guard<std::mutex> lock(mu_);
  Transaction txn(db_.get());
  COFFER_RETURN_IF_ERROR(txn.BeginImmediate().WithContext("append to the access log"));
  COFFER_ASSIGN_OR_RETURN(
      LogHead head,
      QueryHead("SELECT seq, hash FROM access_log WHERE account_id = ? ORDER BY seq DESC LIMIT 1", &account_id));
  if (head.length != seq) {
    return AbortedError("access log of account " + account_id + " has " + std::to_string(head.length) +
                        " entries; cannot append number " + std::to_string(seq));
  }
  COFFER_ASSIGN_OR_RETURN(LogHead global, QueryHead("SELECT seq, hash FROM global_log ORDER BY seq DESC LIMIT 1",
                                                    nullptr));
  if (global.length != global_seq) {
    return AbortedError("global log has " + std::to_string(global.length) + " entries; cannot append number " +
                        std::to_string(global_seq));
  }
  {
    COFFER_ASSIGN_OR_RETURN(Stmt ins,
                            db_->Prepare("INSERT INTO access_log (account_id, seq, entry, hash) VALUES (?, ?, ?, ?)"));
    COFFER_RETURN_IF_ERROR(ins.Bind(1, account_id).BindU64(2, seq).Bind(3, entry).Bind(4, entry_hash).Run());
  }
  {
    COFFER_ASSIGN_OR_RETURN(Stmt ins, db_->Prepare("INSERT INTO global_log (seq, entry, hash) VALUES (?, ?, ?)"));
    COFFER_RETURN_IF_ERROR(ins.BindU64(1, global_seq).Bind(2, global_entry).Bind(3, global_hash).Run());
  }
  return txn.Commit().WithContext("append to the access log");
}

StatusOr<std::vector<LogEntryRecord>> SqliteStaffStore::GetLogEntries(const std::string& account_id, uint64_t from,
                                                                      size_t limit) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(from, "log entry number"));
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT seq, entry FROM access_log WHERE account_id = ? AND seq >= ? "
                                               "ORDER BY seq LIMIT ?"));
  q.Bind(1, account_id).BindU64(2, from).Bind(3, ClampLimit(limit));
  std::vector<LogEntryRecord> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(LogEntryRecord{q.ColumnU64(0), q.ColumnBlob(1)});
  }
  return out;
}

StatusOr<std::vector<LogEntryRecord>> SqliteStaffStore::GetGlobalLogEntries(uint64_t from, size_t limit) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(from, "global log entry number"));
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT seq, entry FROM global_log WHERE seq >= ? ORDER BY seq LIMIT ?"));
  q.BindU64(1, from).Bind(2, ClampLimit(limit));
  std::vector<LogEntryRecord> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(LogEntryRecord{q.ColumnU64(0), q.ColumnBlob(1)});
  }
  return out;
}

}  // namespace coffer::store
