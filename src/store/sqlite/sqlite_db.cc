#include "store/sqlite/sqlite_db.h"

#include <limits>
#include <string>
#include <utility>

namespace coffer::store::sqlite {
namespace {

// sqlite3_bind_blob treats a null pointer as SQL NULL, which would turn an empty Bytes into
// NULL and break NOT NULL columns and round trips; empty values point here instead.
const uint8_t kEmpty[1] = {0};

}  // namespace

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // errmsg describes the most recent failure on the connection, which is this one when
  // called right after the failing call; fall back to the generic text otherwise.
  msg += (db != nullptr && sqlite3_extended_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return AlreadyExistsError(std::move(msg));
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return NotFoundError(std::move(msg));
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return UnavailableError(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(std::move(msg));
    case SQLITE_TOOBIG:
      return InvalidArgumentError(std::move(msg));
    default:
      return InternalError(std::move(msg));
  }
}

Stmt::~Stmt() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Stmt& Stmt::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view value) {
  const char* data = value.empty() ? reinterpret_cast<const char*>(kEmpty) : value.data();
  int rc = sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Stmt& Stmt::Bind(int index, ByteView value) {
  const uint8_t* data = value.empty() ? kEmpty : value.data();
  // SQLITE_STATIC would avoid a copy, but the caller's buffer is not guaranteed to outlive
  // the statement's next reset; blobs here are at most a few hundred MiB and copied once.
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

StatusOr<bool> Stmt::Step() {
  if (bind_rc_ != SQLITE_OK)
    return SqliteStatus(db_, bind_rc_, std::string("bind parameters of ") + sqlite3_sql(stmt_));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Statements come from sqlite3_prepare_v3 and extended codes are on, so rc is already the
  // specific (extended) error.
  return SqliteStatus(db_, rc, "sqlite");
}

Status Stmt::Run() {
  COFFER_ASSIGN_OR_RETURN(bool row, Step());
  (void)row;  // statements run this way return no rows; a stray row is simply ignored
  return OkStatus();
}

std::string Stmt::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return std::string();
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

Bytes Stmt::ColumnBlob(int col) const {
  const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return Bytes();
  return Bytes(p, p + n);
}

StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  sqlite3* handle = nullptr;
  // NOMUTEX: the owner serializes every use of the connection, so SQLite's own per-call
  // mutex would only add cost.
  int rc = sqlite3_open_v2(path.c_str(), &handle,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(handle, rc, "open metadata database " + path);
    sqlite3_close_v2(handle);  // a handle is allocated even on failure
    return s;
  }
  sqlite3_extended_result_codes(handle, 1);
  return std::unique_ptr<Db>(new Db(handle, path));
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

StatusOr<Stmt> Db::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sql.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
      return InternalError("SQL too long");
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "prepare \"" + std::string(sql) + "\"");
    it = cache_.emplace(std::string(sql), stmt).first;
  }
  return Stmt(db_, it->second);
}

Status Db::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = "exec \"" + text.substr(0, 60) + (text.size() > 60 ? "...\"" : "\"");
    Status s = SqliteStatus(db_, sqlite3_extended_errcode(db_), what);
    sqlite3_free(err);
    return s;
  }
  return OkStatus();
}

Transaction::~Transaction() {
  // ROLLBACK cannot meaningfully fail here; if it does, SQLite has already rolled back
  // (e.g. after an I/O error), which is the outcome we want.
  if (active_) (void)db_->Exec("ROLLBACK");
}

Status Transaction::Begin(std::string_view sql) {
  COFFER_RETURN_IF_ERROR(db_->Exec(sql));
  active_ = true;
  return OkStatus();
}

Status Transaction::Commit() {
  COFFER_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  active_ = false;
  return OkStatus();
}

}  // namespace coffer::store::sqlite
