// LocalState: the per-device-profile SQLite database (`<home>/state.db`).
//
// Holds what this device has verified: the pinned genesis hash, the highest device chain,
// keyring version and account-key epoch seen (rollback detection, R10), per collection the
// highest revision number and hash seen, and the materialised items and versions replayed
// from verified revisions. It is a cache of verified state plus the anti-rollback
// high-water marks; it never holds account keys (they are re-derived from the sealed key).
// Thread-safety: one LocalState per thread.
#ifndef COFFER_CLIENT_LOCAL_STATE_H_
#define COFFER_CLIENT_LOCAL_STATE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::client {

// A prepared statement; Bind* take 1-based indexes. Step() returns true while rows remain.
class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, ByteView v);
  Stmt& BindNull(int i);
  StatusOr<bool> Step();
  Status Run();  // steps to completion
  void Reset();

  int64_t Int(int col) const;
  std::string Text(int col) const;
  Bytes Blob(int col) const;
  bool IsNull(int col) const;

  // Finalizes the statements cached for `db`; call before closing it.
  static void FinalizeCached(sqlite3* db);

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status prepare_error_;
};

class LocalState {
 public:
  static StatusOr<std::unique_ptr<LocalState>> Open(const std::string& path);
  ~LocalState();

  std::optional<Bytes> Get(std::string_view key);
  std::string GetString(std::string_view key, std::string_view fallback = "");
  int64_t GetInt(std::string_view key, int64_t fallback = 0);
  Status Put(std::string_view key, ByteView value);
  Status PutString(std::string_view key, std::string_view value) { return Put(key, AsBytes(value)); }
  Status PutInt(std::string_view key, int64_t value) { return PutString(key, std::to_string(value)); }
  Status Erase(std::string_view key);

  Status Exec(std::string_view sql);
  Status Begin() { return Exec("BEGIN IMMEDIATE"); }
  Status Commit() { return Exec("COMMIT"); }
  void Rollback() { (void)Exec("ROLLBACK"); }

  sqlite3* db() { return db_; }

 private:
  explicit LocalState(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace coffer::client

#endif  // COFFER_CLIENT_LOCAL_STATE_H_
