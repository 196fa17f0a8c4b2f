#include "store/postgres/postgres_staff_store.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>
#include <utility>

#include "store/postgres/pg_run.h"

namespace coffer::store {
namespace {

using pg::Connection;
using pg::Params;
using pg::Result;
using pg::Transaction;


struct Migration {
  int64_t version;
  const char* description;
  const char* sql;
};

// Never edit a shipped migration; append a new one. The same tables and columns as
// SqliteStaffStore, with the PostgreSQL metadata schema's conventions: ids and names in the
// "C" collation (bytewise order, like SQLite), opaque bytes as bytea, unix seconds as bigint.
// Account ids are not foreign keys: the accounts table belongs to the metadata schema, whose
// migrations this store does not own.
constexpr Migration kStaffMigrations[] = {
    {1, "staff console: staff, sessions, grants, reset codes, access log, global log", R"sql(
CREATE TABLE staff (
  staff_id    text    COLLATE "C" NOT NULL PRIMARY KEY,
  name        text    COLLATE "C" NOT NULL UNIQUE,      -- GetStaffByName, ListStaff order
  role        text    NOT NULL,
  secret_hash text    NOT NULL,
  created_at  bigint  NOT NULL,
  disabled    boolean NOT NULL
);
CREATE TABLE staff_sessions (
  token_hash bytea  NOT NULL PRIMARY KEY,
  staff_id   text   COLLATE "C" NOT NULL REFERENCES staff (staff_id),
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);
CREATE TABLE grants (
  grant_id   text   COLLATE "C" NOT NULL PRIMARY KEY,
  account_id text   COLLATE "C" NOT NULL,
  device_id  text   COLLATE "C" NOT NULL,
  scopes     bigint NOT NULL,
  issued_at  bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_at bigint NOT NULL,                            -- 0 = not revoked
  encoded    bytea  NOT NULL
);
CREATE INDEX grants_by_account ON grants (account_id, issued_at);
CREATE TABLE reset_codes (
  account_id text   COLLATE "C" NOT NULL PRIMARY KEY,
  code_hash  bytea  NOT NULL,
  expires_at bigint NOT NULL
);
CREATE TABLE access_log (
  account_id text   COLLATE "C" NOT NULL,
  seq        bigint NOT NULL CHECK (seq >= 0),           -- 0, 1, 2, ... without gaps
  entry      bytea  NOT NULL,
  hash       bytea  NOT NULL,
  PRIMARY KEY (account_id, seq)                          -- the compare-and-set of appends
);
CREATE TABLE global_log (
  seq   bigint NOT NULL PRIMARY KEY CHECK (seq >= 0),    -- 0, 1, 2, ... without gaps
  entry bytea  NOT NULL,
  hash  bytea  NOT NULL
);
)sql"},
};

Status CheckOrdered(uint64_t value, std::string_view what) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgumentError(std::string(what) + " " + std::to_string(value) + " is out of range (max 2^63-1)");
  }
  return OkStatus();
}

int64_t ClampLimit(size_t limit) {
  return static_cast<int64_t>(std::min<size_t>(limit, static_cast<size_t>(1) << 31));
}



Status MigrateStaffSchema(Connection& conn, const std::string& schema) {
  const std::string where = schema.empty() ? "the default schema" : "schema " + schema;
  const std::string what = "migrate the PostgreSQL staff schema (" + where + ")";
  // Session-level, so it spans the per-migration transactions; released below, or by the
  // server when this connection closes. Not the metadata migrations' key: the two schemas
  // migrate independently.
  const std::string lock_key = "coffer-staff-migrations:" + schema;
  COFFER_RETURN_IF_ERROR(conn.Exec("SELECT pg_advisory_lock(hashtextextended($1, 0))", Params().Text(lock_key))
                             .status()
                             .WithContext(what));
  auto migrate = [&]() -> Status {
    if (!schema.empty()) {
      // Validated by ParseConnectionUrl ([a-z_][a-z0-9_]*), so quoting is enough. A metadata
      // store starting at the same moment may create it first (CREATE SCHEMA IF NOT EXISTS
      // is not atomic against that and reports a duplicate key): then it exists, as wanted.
      Status created = conn.ExecScript("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"");
      if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
    }
    COFFER_RETURN_IF_ERROR(conn.ExecScript(
        "CREATE TABLE IF NOT EXISTS staff_schema_migrations (version bigint NOT NULL PRIMARY KEY, "
        "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT COALESCE(MAX(version), 0) FROM staff_schema_migrations"));
    const int64_t current = r.Int(0, 0);
    const int64_t latest = PostgresStaffStore::LatestSchemaVersion();
    if (current > latest) {
      return FailedPreconditionError("the PostgreSQL database (" + where + ") has staff schema version " +
                                     std::to_string(current) + ", newer than the " + std::to_string(latest) +
                                     " this server supports; upgrade the server");
    }
    for (const Migration& m : kStaffMigrations) {
      if (m.version <= current) continue;
      Transaction txn(conn);
      COFFER_RETURN_IF_ERROR(txn.Begin());
      COFFER_RETURN_IF_ERROR(conn.ExecScript(m.sql).WithContext("staff migration " + std::to_string(m.version)));
      COFFER_RETURN_IF_ERROR(conn.Exec("INSERT INTO staff_schema_migrations (version, description) VALUES ($1, $2)",
                                       Params().Int(m.version).Text(m.description))
                                 .status());
      COFFER_RETURN_IF_ERROR(txn.Commit());
    }
    return OkStatus();
  };
  Status status = migrate();
  Status unlock =
      conn.Exec("SELECT pg_advisory_unlock(hashtextextended($1, 0))", Params().Text(lock_key)).status();
  if (!status.ok()) return status.WithContext(what);
  return unlock.WithContext(what);
}

constexpr const char* kStaffSelect =
    "SELECT staff_id, name, role, secret_hash, created_at, disabled FROM staff ";

StaffRecord ReadStaff(const Result& r, int row) {
  StaffRecord s;
  s.staff_id = r.Text(row, 0);
  s.name = r.Text(row, 1);
  s.role = r.Text(row, 2);
  s.secret_hash = r.Text(row, 3);
  s.created_at = r.Int(row, 4);
  s.disabled = r.Bool(row, 5);
  return s;
}

constexpr const char* kGrantSelect =
    "SELECT grant_id, account_id, device_id, scopes, issued_at, expires_at, revoked_at, encoded FROM grants ";

GrantRecord ReadGrant(const Result& r, int row) {
  GrantRecord g;
  g.grant_id = r.Text(row, 0);
  g.account_id = r.Text(row, 1);
  g.device_id = r.Text(row, 2);
  g.scopes = static_cast<uint32_t>(r.Int(row, 3));
  g.issued_at = r.Int(row, 4);
  g.expires_at = r.Int(row, 5);
  g.revoked_at = r.Int(row, 6);
  g.encoded = r.Blob(row, 7);
  return g;
}

constexpr const char* kAccountHeadSql =
    "SELECT seq, hash FROM access_log WHERE account_id = $1 ORDER BY seq DESC LIMIT 1";
constexpr const char* kGlobalHeadSql = "SELECT seq, hash FROM global_log ORDER BY seq DESC LIMIT 1";

LogHead HeadFrom(const Result& r) {
  if (r.rows() == 0) return LogHead{};
  return LogHead{r.U64(0, 0) + 1, r.Blob(0, 1)};
}

std::vector<LogEntryRecord> EntriesFrom(const Result& r) {
  std::vector<LogEntryRecord> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(LogEntryRecord{r.U64(i, 0), r.Blob(i, 1)});
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Setup

int64_t PostgresStaffStore::LatestSchemaVersion() { return std::end(kStaffMigrations)[-1].version; }

PostgresStaffStore::PostgresStaffStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

PostgresStaffStore::~PostgresStaffStore() = default;

StatusOr<std::unique_ptr<PostgresStaffStore>> PostgresStaffStore::Open(const std::string& url) {
  COFFER_ASSIGN_OR_RETURN(pg::ConnectionConfig config, pg::ParseConnectionUrl(url));
  config.pool_size = std::min(config.pool_size, kMaxPoolSize);
  const std::string schema = config.schema;
  auto pool = std::make_unique<pg::Pool>(std::move(config));
  {
    COFFER_ASSIGN_OR_RETURN(pg::Pool::Lease lease, pool->Acquire());
    Status migrated = MigrateStaffSchema(*lease, schema);
    if (!migrated.ok()) {
      lease.Discard();  // also drops the advisory lock if the unlock did not get through
      return migrated;
    }
  }
  return std::unique_ptr<PostgresStaffStore>(new PostgresStaffStore(std::move(pool)));
}

template <typename Fn>
auto PostgresStaffStore::Run(const std::string& what, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  return pg::RunWithRetry(*pool_, what, std::forward<Fn>(fn));
}

// ---------------------------------------------------------------------------------------
// Staff

Status PostgresStaffStore::CreateStaff(const StaffRecord& s) {
  return Run("create staff member " + s.staff_id, [&](Connection& conn) -> Status {
    Status st = conn.Exec("INSERT INTO staff (staff_id, name, role, secret_hash, created_at, disabled) VALUES "
                          "($1, $2, $3, $4, $5, $6)",
                          Params().Text(s.staff_id).Text(s.name).Text(s.role).Text(s.secret_hash).Int(s.created_at).Bool(
                              s.disabled))
                    .status();
    if (st.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("a staff member with id " + s.staff_id + " or name " + s.name + " already exists");
    }
    return st;
  });
}

StatusOr<StaffRecord> PostgresStaffStore::GetStaff(const std::string& staff_id) {
  return Run("get staff member " + staff_id, [&](Connection& conn) -> StatusOr<StaffRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec(std::string(kStaffSelect) + "WHERE staff_id = $1", Params().Text(staff_id)));
    if (r.rows() == 0) return NotFoundError("no staff member with id " + staff_id);
    return ReadStaff(r, 0);
  });
}

StatusOr<StaffRecord> PostgresStaffStore::GetStaffByName(const std::string& name) {
  return Run("get staff member by name", [&](Connection& conn) -> StatusOr<StaffRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(std::string(kStaffSelect) + "WHERE name = $1", Params().Text(name)));
    if (r.rows() == 0) return NotFoundError("no such staff member");
    return ReadStaff(r, 0);
  });
}

StatusOr<std::vector<StaffRecord>> PostgresStaffStore::ListStaff() {
  return Run("list staff", [&](Connection& conn) -> StatusOr<std::vector<StaffRecord>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(std::string(kStaffSelect) + "ORDER BY name"));
    std::vector<StaffRecord> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadStaff(r, i));
    return out;
  });
}

Status PostgresStaffStore::SetStaffDisabled(const std::string& staff_id, bool disabled) {
  return Run("set disabled of staff member " + staff_id, [&](Connection& conn) -> Status {
    Transaction txn(conn);
    COFFER_RETURN_IF_ERROR(txn.Begin());
    // FOR UPDATE, not the NO KEY UPDATE an UPDATE takes: it also waits for, and holds back,
    // the foreign-key check of a concurrent session insert (see the header).
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec("SELECT 1 FROM staff WHERE staff_id = $1 FOR UPDATE", Params().Text(staff_id)));
    if (r.rows() == 0) return NotFoundError("no staff member with id " + staff_id);
    COFFER_RETURN_IF_ERROR(conn.Exec("UPDATE staff SET disabled = $1 WHERE staff_id = $2",
                                     Params().Bool(disabled).Text(staff_id))
                               .status());
    if (disabled) {
      COFFER_RETURN_IF_ERROR(
          conn.Exec("DELETE FROM staff_sessions WHERE staff_id = $1", Params().Text(staff_id)).status());
    }
    return txn.Commit();
  });
}

// ---------------------------------------------------------------------------------------
// Staff sessions

Status PostgresStaffStore::CreateStaffSession(const StaffSessionRecord& s) {
  return Run("create session of staff member " + s.staff_id, [&](Connection& conn) -> Status {
    Status st = conn.Exec("INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) VALUES "
                          "($1, $2, $3, $4)",
                          Params().Blob(s.token_hash).Text(s.staff_id).Int(s.created_at).Int(s.expires_at))
                    .status();
    if (st.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("staff session token already exists");
    if (st.code() == StatusCode::kNotFound) return NotFoundError("no staff member with id " + s.staff_id);
    return st;
  });
}

StatusOr<StaffSessionRecord> PostgresStaffStore::GetStaffSession(ByteView token_hash, int64_t now) {
  return Run("get staff session", [&](Connection& conn) -> StatusOr<StaffSessionRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT token_hash, staff_id, created_at, expires_at FROM "
                                                "staff_sessions WHERE token_hash = $1 AND expires_at > $2",
                                                Params().Blob(token_hash).Int(now)));
    if (r.rows() == 0) return NotFoundError("staff session unknown or expired");
    return StaffSessionRecord{r.Blob(0, 0), r.Text(0, 1), r.Int(0, 2), r.Int(0, 3)};
  });
}

Status PostgresStaffStore::DeleteStaffSession(ByteView token_hash) {
  return Run("delete staff session", [&](Connection& conn) -> Status {
    return conn.Exec("DELETE FROM staff_sessions WHERE token_hash = $1", Params().Blob(token_hash)).status();
  });
}

// ---------------------------------------------------------------------------------------
// Grants

Status PostgresStaffStore::PutGrant(const GrantRecord& g) {
  return Run("put grant " + g.grant_id + " of account " + g.account_id, [&](Connection& conn) -> Status {
    Status st = conn.Exec("INSERT INTO grants (grant_id, account_id, device_id, scopes, issued_at, expires_at, "
                          "revoked_at, encoded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                          Params()
                              .Text(g.grant_id)
                              .Text(g.account_id)
                              .Text(g.device_id)
                              .Int(int64_t{g.scopes})
                              .Int(g.issued_at)
                              .Int(g.expires_at)
                              .Int(g.revoked_at)
                              .Blob(g.encoded))
                    .status();
    if (st.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("grant " + g.grant_id + " already exists");
    return st;
  });
}

StatusOr<GrantRecord> PostgresStaffStore::GetGrant(const std::string& grant_id) {
  return Run("get grant " + grant_id, [&](Connection& conn) -> StatusOr<GrantRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec(std::string(kGrantSelect) + "WHERE grant_id = $1", Params().Text(grant_id)));
    if (r.rows() == 0) return NotFoundError("no grant with id " + grant_id);
    return ReadGrant(r, 0);
  });
}

StatusOr<std::vector<GrantRecord>> PostgresStaffStore::ListGrants(const std::string& account_id) {
  return Run("list grants of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<GrantRecord>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(std::string(kGrantSelect) +
                                                     "WHERE account_id = $1 ORDER BY issued_at DESC, grant_id",
                                                 Params().Text(account_id)));
    std::vector<GrantRecord> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadGrant(r, i));
    return out;
  });
}

Status PostgresStaffStore::RevokeGrant(const std::string& account_id, const std::string& grant_id, int64_t now) {
  return Run("revoke grant " + grant_id + " of account " + account_id, [&](Connection& conn) -> Status {
    // One statement: the compare (not yet revoked, this account's) is in its WHERE clause, so
    // two revocations racing keep the first time.
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("UPDATE grants SET revoked_at = $1 WHERE grant_id = $2 AND "
                                                "account_id = $3 AND revoked_at = 0",
                                                Params().Int(now).Text(grant_id).Text(account_id)));
    if (r.affected() > 0) return OkStatus();
    COFFER_ASSIGN_OR_RETURN(Result exists, conn.Exec("SELECT 1 FROM grants WHERE grant_id = $1 AND account_id = $2",
                                                     Params().Text(grant_id).Text(account_id)));
    if (exists.rows() == 0) return NotFoundError("this account has no grant with id " + grant_id);
    return OkStatus();  // already revoked
  });
}

// ---------------------------------------------------------------------------------------
// Reset codes

Status PostgresStaffStore::PutResetCode(const std::string& account_id, ByteView code_hash, int64_t expires_at) {
  return Run("put login-reset code of account " + account_id, [&](Connection& conn) -> Status {
    return conn.Exec("INSERT INTO reset_codes (account_id, code_hash, expires_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (account_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, "
                     "expires_at = EXCLUDED.expires_at",
                     Params().Text(account_id).Blob(code_hash).Int(expires_at))
        .status();
  });
}

StatusOr<Bytes> PostgresStaffStore::GetResetCode(const std::string& account_id, int64_t now) {
  return Run("get login-reset code of account " + account_id, [&](Connection& conn) -> StatusOr<Bytes> {
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec("SELECT code_hash FROM reset_codes WHERE account_id = $1 AND expires_at > $2",
                                      Params().Text(account_id).Int(now)));
    if (r.rows() == 0) return NotFoundError("no login-reset code for this account, or it expired");
    return r.Blob(0, 0);
  });
}

Status PostgresStaffStore::DeleteResetCode(const std::string& account_id) {
  return Run("delete login-reset code of account " + account_id, [&](Connection& conn) -> Status {
    return conn.Exec("DELETE FROM reset_codes WHERE account_id = $1", Params().Text(account_id)).status();
  });
}

// ---------------------------------------------------------------------------------------
// Access log

StatusOr<LogHead> PostgresStaffStore::GetLogHead(const std::string& account_id) {
  return Run("get access log head of account " + account_id, [&](Connection& conn) -> StatusOr<LogHead> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(kAccountHeadSql, Params().Text(account_id)));
    return HeadFrom(r);
  });
}

StatusOr<LogHead> PostgresStaffStore::GetGlobalLogHead() {
  return Run("get global log head", [&](Connection& conn) -> StatusOr<LogHead> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(kGlobalHeadSql));
    return HeadFrom(r);
  });
}

Status PostgresStaffStore::AppendLogEntry(const std::string& account_id, uint64_t seq, ByteView entry,
                                          ByteView entry_hash, uint64_t global_seq, ByteView global_entry,
                                          ByteView global_hash) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(seq, "log entry number"));
  COFFER_RETURN_IF_ERROR(CheckOrdered(global_seq, "global log entry number"));
  return Run("append entry " + std::to_string(seq) + " to the access log of account " + account_id,
             [&](Connection& conn) -> Status {
               Transaction txn(conn);
               COFFER_RETURN_IF_ERROR(txn.Begin());
               {
                 COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(kAccountHeadSql, Params().Text(account_id)));
                 const LogHead head = HeadFrom(r);
                 if (head.length != seq) {
                   return AbortedError("access log of account " + account_id + " has " +
                                       std::to_string(head.length) + " entries; cannot append number " +
                                       std::to_string(seq));
                 }
               }
               {
                 COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(kGlobalHeadSql));
                 const LogHead global = HeadFrom(r);
                 if (global.length != global_seq) {
                   return AbortedError("global log has " + std::to_string(global.length) +
                                       " entries; cannot append number " + std::to_string(global_seq));
                 }
               }
               // Another server may have read the same lengths: the primary keys let only one
               // of us insert each number (the other waits for its commit, then fails here).
               Status st = conn.Exec("INSERT INTO access_log (account_id, seq, entry, hash) VALUES ($1, $2, $3, $4)",
                                     Params().Text(account_id).U64(seq).Blob(entry).Blob(entry_hash))
                               .status();
               if (st.code() == StatusCode::kAlreadyExists) {
                 return AbortedError("entry " + std::to_string(seq) + " of the access log of account " + account_id +
                                     " was appended concurrently");
               }
               COFFER_RETURN_IF_ERROR(st);
               st = conn.Exec("INSERT INTO global_log (seq, entry, hash) VALUES ($1, $2, $3)",
                              Params().U64(global_seq).Blob(global_entry).Blob(global_hash))
                        .status();
               if (st.code() == StatusCode::kAlreadyExists) {
                 return AbortedError("entry " + std::to_string(global_seq) +
                                     " of the global log was appended concurrently");
               }
               COFFER_RETURN_IF_ERROR(st);
               return txn.Commit();
             });
}

StatusOr<std::vector<LogEntryRecord>> PostgresStaffStore::GetLogEntries(const std::string& account_id,
                                                                        uint64_t from, size_t limit) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(from, "log entry number"));
  return Run("get access log of account " + account_id,
             [&](Connection& conn) -> StatusOr<std::vector<LogEntryRecord>> {
               COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT seq, entry FROM access_log WHERE account_id = $1 "
                                                           "AND seq >= $2 ORDER BY seq LIMIT $3",
                                                           Params().Text(account_id).U64(from).Int(ClampLimit(limit))));
               return EntriesFrom(r);
             });
}

StatusOr<std::vector<LogEntryRecord>> PostgresStaffStore::GetGlobalLogEntries(uint64_t from, size_t limit) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(from, "global log entry number"));
  return Run("get global log", [&](Connection& conn) -> StatusOr<std::vector<LogEntryRecord>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT seq, entry FROM global_log WHERE seq >= $1 ORDER BY seq "
                                                "LIMIT $2",
                                                Params().U64(from).Int(ClampLimit(limit))));
    return EntriesFrom(r);
  });
}

}  // namespace coffer::store
