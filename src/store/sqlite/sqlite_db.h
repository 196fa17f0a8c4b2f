// Thin RAII layer over the SQLite C API for the store: a connection with a cache of
// prepared statements, statement handles that reset themselves, transactions that roll back
// unless committed, and one mapping from SQLite result codes to Status codes.
//
// Not thread-safe: the owner (SqliteMetaStore) serializes all use of a Db with its mutex.
#ifndef COFFER_STORE_SQLITE_SQLITE_DB_H_
#define COFFER_STORE_SQLITE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store::sqlite {

// Maps an SQLite (extended) result code to a Status whose message starts with `what`:
//   BUSY, LOCKED, IOERR, FULL, CANTOPEN, READONLY, NOMEM -> kUnavailable (retry the call)
//   CORRUPT, NOTADB                                      -> kDataLoss
//   CONSTRAINT_PRIMARYKEY, CONSTRAINT_UNIQUE             -> kAlreadyExists
//   CONSTRAINT_FOREIGNKEY                                -> kNotFound (the parent row)
//   TOOBIG                                               -> kInvalidArgument
//   anything else                                        -> kInternal
Status SqliteStatus(sqlite3* db, int rc, std::string_view what);

// A prepared statement borrowed from the Db's cache. Binding indexes start at 1, column
// indexes at 0 (as in SQLite). The destructor resets the statement and clears its bindings so
// that the next user starts clean and no read snapshot is held open.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_), bind_rc_(other.bind_rc_) {
    other.stmt_ = nullptr;
  }
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int index, int64_t value);
  Stmt& Bind(int index, std::string_view value);
  Stmt& Bind(int index, ByteView value);
  // Unsigned values are stored as their two's-complement int64 bit pattern and read back
  // with ColumnU64; only equality and round trips are meaningful in SQL for values >= 2^63.
  Stmt& BindU64(int index, uint64_t value) { return Bind(index, static_cast<int64_t>(value)); }

  // Advances to the next row: true if a row is available, false when done.
  StatusOr<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();

  int64_t ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
  uint64_t ColumnU64(int col) const { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, col)); }
  std::string ColumnText(int col) const;
  Bytes ColumnBlob(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;  // first binding error, reported by Step/Run
};

class Db {
 public:
  // Opens or creates the database file at `path` with extended result codes on. The caller
  // sets the pragmas.
  static StatusOr<std::unique_ptr<Db>> Open(const std::string& path);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Returns the cached statement for `sql`, preparing it on first use. A statement must not
  // be borrowed twice at the same time.
  StatusOr<Stmt> Prepare(std::string_view sql);
  // Runs one or more statements without parameters (DDL, pragmas, BEGIN/COMMIT).
  Status Exec(std::string_view sql);
  // Number of rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const { return sqlite3_changes64(db_); }

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// A transaction that rolls back on destruction unless Commit succeeded.
class Transaction {
 public:
  explicit Transaction(Db* db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // BEGIN IMMEDIATE takes the write lock up front, so the reads a write transaction bases
  // its compare-and-set on cannot be invalidated by another connection, and lock waits
  // happen (under busy_timeout) before any work instead of failing at COMMIT.
  Status BeginImmediate() { return Begin("BEGIN IMMEDIATE"); }
  // A deferred transaction: a consistent read snapshot over several statements.
  Status BeginRead() { return Begin("BEGIN"); }
  Status Commit();

 private:
  Status Begin(std::string_view sql);
  Db* db_;
  bool active_ = false;
};

}  // namespace coffer::store::sqlite

#endif  // COFFER_STORE_SQLITE_SQLITE_DB_H_
