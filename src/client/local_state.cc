#include "client/local_state.h"

#include <mutex>
#include <unordered_map>

namespace coffer::client {

namespace {
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal(
  collection_id TEXT PRIMARY KEY, number INTEGER NOT NULL, head_hash BLOB NOT NULL,
  chain_len INTEGER NOT NULL, key_epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  collection_id TEXT NOT NULL, item_id TEXT NOT NULL, parent_id TEXT NOT NULL, name TEXT NOT NULL,
  kind INTEGER NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  mode INTEGER NOT NULL, content BLOB NOT NULL, trashed INTEGER NOT NULL DEFAULT 0,
  trashed_at INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL,
  PRIMARY KEY(collection_id, item_id));
CREATE INDEX IF NOT EXISTS items_by_parent ON items(collection_id, parent_id, name);
CREATE TABLE IF NOT EXISTS versions(
  collection_id TEXT NOT NULL, item_id TEXT NOT NULL, version INTEGER NOT NULL,
  revision INTEGER NOT NULL, author TEXT NOT NULL, time INTEGER NOT NULL, size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL, mode INTEGER NOT NULL, content BLOB NOT NULL,
  PRIMARY KEY(collection_id, item_id, version));
)sql";
}  // namespace

// Prepared statements are kept per database and reused: the journal runs the same few
// statements for every item of a revision, and re-parsing the SQL each time cost more than
// executing it. Only fixed SQL texts are cached (values are always bound), capped anyway.
namespace {
constexpr size_t kMaxCachedStatements = 256;

struct StatementCache {
  std::mutex mu;
  std::unordered_map<sqlite3*, std::unordered_multimap<std::string, sqlite3_stmt*>> idle;
};

StatementCache& Cache() {
  static StatementCache* cache = new StatementCache;  // never destroyed: used from destructors
  return *cache;
}
}  // namespace

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  {
    StatementCache& cache = Cache();
    std::lock_guard<std::mutex> lock(cache.mu);
    auto db_it = cache.idle.find(db);
    if (db_it != cache.idle.end()) {
      auto it = db_it->second.find(std::string(sql));
      if (it != db_it->second.end()) {
        stmt_ = it->second;
        db_it->second.erase(it);
        return;
      }
    }
  }
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK) {
    prepare_error_ = InternalError(std::string("local state: cannot prepare statement: ") + sqlite3_errmsg(db));
    stmt_ = nullptr;
  }
}

Stmt::~Stmt() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  const char* text = sqlite3_sql(stmt_);
  StatementCache& cache = Cache();
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    auto& idle = cache.idle[db_];
    if (text != nullptr && idle.size() < kMaxCachedStatements) {
      idle.emplace(text, stmt_);
      return;
    }
  }
  sqlite3_finalize(stmt_);
}

void Stmt::FinalizeCached(sqlite3* db) {
  std::unordered_multimap<std::string, sqlite3_stmt*> idle;
  {
    StatementCache& cache = Cache();
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.idle.find(db);
    if (it == cache.idle.end()) return;
    idle = std::move(it->second);
    cache.idle.erase(it);
  }
  for (auto& [_, stmt] : idle) sqlite3_finalize(stmt);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  if (stmt_) sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, std::string_view v) {
  if (stmt_) sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::Bind(int i, ByteView v) {
  if (stmt_) sqlite3_bind_blob(stmt_, i, v.empty() ? "" : static_cast<const void*>(v.data()),
                               static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  if (stmt_) sqlite3_bind_null(stmt_, i);
  return *this;
}

StatusOr<bool> Stmt::Step() {
  if (!stmt_) return prepare_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return UnavailableError(std::string("local state database error: ") + sqlite3_errmsg(db_));
}

Status Stmt::Run() {
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}

void Stmt::Reset() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, col)) : std::string();
}
Bytes Stmt::Blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  return p ? Bytes(p, p + sqlite3_column_bytes(stmt_, col)) : Bytes();
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

StatusOr<std::unique_ptr<LocalState>> LocalState::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return UnavailableError("cannot open the device state database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  std::unique_ptr<LocalState> state(new LocalState(db));
  COFFER_RETURN_IF_ERROR(state->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  COFFER_RETURN_IF_ERROR(state->Exec(kSchema));
  return state;
}

LocalState::~LocalState() {
  Stmt::FinalizeCached(db_);
  sqlite3_close(db_);
}

Status LocalState::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return UnavailableError("local state database error: " + msg);
  }
  return OkStatus();
}

std::optional<Bytes> LocalState::Get(std::string_view key) {
  Stmt s(db_, "SELECT value FROM kv WHERE key = ?");
  s.Bind(1, key);
  auto row = s.Step();
  if (!row.ok() || !*row) return std::nullopt;
  return s.Blob(0);
}

std::string LocalState::GetString(std::string_view key, std::string_view fallback) {
  auto v = Get(key);
  return v ? std::string(AsChars(*v)) : std::string(fallback);
}

int64_t LocalState::GetInt(std::string_view key, int64_t fallback) {
  auto v = Get(key);
  if (!v) return fallback;
  try {
    return std::stoll(std::string(AsChars(*v)));
  } catch (...) {
    return fallback;
  }
}

Status LocalState::Put(std::string_view key, ByteView value) {
  Stmt s(db_, "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.Bind(1, key).Bind(2, value);
  return s.Run();
}

Status LocalState::Erase(std::string_view key) {
  Stmt s(db_, "DELETE FROM kv WHERE key = ?");
  s.Bind(1, key);
  return s.Run();
}

}  // namespace coffer::client
