#include "store/sqlite/sqlite_meta_store.h"

#include <algorithm>
#include <ctime>
#include <limits>
#include <string>
#include <utility>

#include "store/sqlite/sqlite_schema.h"

namespace coffer::store {
namespace {

using sqlite::Stmt;
using sqlite::Transaction;

constexpr int kBusyTimeoutMs = 5000;
// Rows per ListChunks page: large enough to amortise the query, small enough that an
// account with millions of chunks is never held in memory at once.
constexpr int64_t kListChunksPage = 512;
constexpr uint64_t kMaxOrdered = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Values SQL compares or orders must keep their meaning as int64.
Status CheckOrdered(uint64_t value, std::string_view what) {
  if (value > kMaxOrdered) {
    return InvalidArgumentError(std::string(what) + " " + std::to_string(value) +
                                " is out of range (max 2^63-1)");
  }
  return OkStatus();
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

// kResourceExhausted if adding `add` bytes to `used` would pass `quota` (0 = unlimited).
// Reaching the quota exactly is allowed.
Status CheckQuota(uint64_t quota, uint64_t used, uint64_t add, const std::string& account_id,
                  std::string_view what) {
  if (quota == 0 || add == 0) return OkStatus();
  if (used > quota || add > quota - used) {
    return ResourceExhaustedError("quota of account " + account_id + " exceeded: " + std::string(what) +
                                  " needs " + std::to_string(add) + " bytes, " + std::to_string(used) +
                                  " of " + std::to_string(quota) + " used");
  }
  return OkStatus();
}

// Failures of the database itself (as opposed to answers such as kNotFound or kAborted)
// get the operation and object prepended, so that a log line says what was being done.
bool IsDbFailure(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kInternal || code == StatusCode::kDataLoss;
}

std::string CollectionName(const std::string& account_id, const std::string& collection_id) {
  return "collection " + collection_id + " of account " + account_id;
}

constexpr std::string_view kAccountColumns =
    "account_id, email, created_at, login_hash, login_salt, kdf_ops, kdf_mem, recovery_hash, recovery_blob, "
    "quota_bytes, used_bytes, locked, last_activity";

AccountRecord ReadAccount(const Stmt& s) {
  AccountRecord a;
  a.account_id = s.ColumnText(0);
  a.email = s.ColumnText(1);
  a.created_at = s.ColumnInt(2);
  a.login_hash = s.ColumnText(3);
  a.login_salt = s.ColumnBlob(4);
  a.kdf_ops = s.ColumnU64(5);
  a.kdf_mem = s.ColumnU64(6);
  a.recovery_hash = s.ColumnText(7);
  a.recovery_blob = s.ColumnBlob(8);
  a.quota_bytes = s.ColumnU64(9);
  a.used_bytes = s.ColumnU64(10);
  a.locked = s.ColumnInt(11) != 0;
  a.last_activity = s.ColumnInt(12);
  return a;
}

constexpr std::string_view kSessionColumns =
    "token_hash, account_id, device_id, kind, created_at, expires_at";

constexpr std::string_view kDeviceColumns =
    "account_id, device_id, sign_public_key, box_public_key, name, status, created_at";

DeviceRecord ReadDevice(const Stmt& s) {
  DeviceRecord d;
  d.account_id = s.ColumnText(0);
  d.device_id = s.ColumnText(1);
  d.sign_public_key = s.ColumnBlob(2);
  d.box_public_key = s.ColumnBlob(3);
  d.name = s.ColumnText(4);
  d.status = static_cast<DeviceStatus>(s.ColumnInt(5));
  d.created_at = s.ColumnInt(6);
  return d;
}

ChunkRecord ReadChunk(const Stmt& s) {
  ChunkRecord c;
  c.chunk_id = s.ColumnText(0);
  c.size = s.ColumnU64(1);
  c.sha256 = s.ColumnBlob(2);
  c.created_at = s.ColumnInt(3);
  c.pack_id = s.ColumnText(4);
  c.pack_offset = s.ColumnU64(5);
  return c;
}

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}

std::string Cat(std::string_view a, std::string_view b) { return std::string(a) + std::string(b); }

}  // namespace

// Runs `fn` with the connection locked. Failures of the database itself (not answers such as
// kNotFound or kAborted) get `what` prepended, so that a log line names the operation and object.
template <typename Fn>
auto SqliteMetaStore::Locked(const std::string& what, Fn&& fn) -> decltype(fn()) {
  std::lock_guard<std::mutex> lock(mu_);
  auto result = fn();
  if (!result.ok() && IsDbFailure(StatusOf(result).code())) return StatusOf(result).WithContext(what);
  return result;
}

SqliteMetaStore::SqliteMetaStore(std::unique_ptr<sqlite::Db> db) : db_(std::move(db)) {}

SqliteMetaStore::~SqliteMetaStore() = default;

StatusOr<std::unique_ptr<SqliteMetaStore>> SqliteMetaStore::Open(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("metadata database path is empty");
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Db> db, sqlite::Db::Open(path));
  const std::string what = "open metadata database " + path;
  // Set first, so that even switching to WAL waits for another process instead of failing.
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
  // FULL (not NORMAL) also fsyncs the WAL at every commit: an acknowledged write must survive
  // power loss, not just a crash of this process.
  COFFER_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON").WithContext(what));
  {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db->Prepare("PRAGMA foreign_keys"));
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row || q.ColumnInt(0) != 1) {
      return FailedPreconditionError(what + ": this SQLite build does not enforce foreign keys");
    }
  }
  COFFER_RETURN_IF_ERROR(sqlite::MigrateSchema(*db));
  return std::unique_ptr<SqliteMetaStore>(new SqliteMetaStore(std::move(db)));
}

StatusOr<std::string> SqliteMetaStore::PragmaForTesting(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare(Cat("PRAGMA ", name)));
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError(Cat("no value for PRAGMA ", name));
  return q.ColumnText(0);
}

// ---------------------------------------------------------------------------------------
// Helpers (mu_ held)

StatusOr<SqliteMetaStore::Usage> SqliteMetaStore::LoadUsage(const std::string& account_id) {
  COFFER_ASSIGN_OR_RETURN(Stmt q,
                          db_->Prepare("SELECT quota_bytes, used_bytes FROM accounts WHERE account_id = ?"));
  q.Bind(1, account_id);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("account " + account_id + " not found");
  return Usage{q.ColumnU64(0), q.ColumnU64(1)};
}

Status SqliteMetaStore::StoreUsedBytes(const std::string& account_id, uint64_t used_bytes) {
  COFFER_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE accounts SET used_bytes = ? WHERE account_id = ?"));
  return u.BindU64(1, used_bytes).Bind(2, account_id).Run();
}

StatusOr<uint64_t> SqliteMetaStore::LoadHead(const std::string& account_id,
                                             const std::string& collection_id) {
  COFFER_ASSIGN_OR_RETURN(
      Stmt q, db_->Prepare("SELECT head FROM collections WHERE account_id = ? AND collection_id = ?"));
  q.Bind(1, account_id).Bind(2, collection_id);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.ColumnU64(0) : uint64_t{0};
}

StatusOr<AccountRecord> SqliteMetaStore::QueryAccount(std::string_view where_column,
                                                      const std::string& value) {
  COFFER_ASSIGN_OR_RETURN(
      Stmt q, db_->Prepare(Cat(
                  Cat(Cat("SELECT ", kAccountColumns), Cat(" FROM accounts WHERE ", where_column)), " = ?")));
  q.Bind(1, value);
  COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return NotFoundError("account not found");
  return ReadAccount(q);
}

Status SqliteMetaStore::UpdateAccount(Stmt& stmt, const std::string& account_id, std::string_view what) {
  COFFER_RETURN_IF_ERROR(stmt.Run());
  if (db_->Changes() == 0) return NotFoundError(std::string(what) + ": account " + account_id + " not found");
  return OkStatus();
}

// ---------------------------------------------------------------------------------------
// Accounts

Status SqliteMetaStore::CreateAccount(const AccountRecord& a) {
  return Locked("create account " + a.account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare(Cat(Cat("INSERT INTO accounts (", kAccountColumns),
                                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")));
    s.Bind(1, a.account_id)
        .Bind(2, a.email)
        .Bind(3, a.created_at)
        .Bind(4, a.login_hash)
        .Bind(5, ByteView(a.login_salt))
        .BindU64(6, a.kdf_ops)
        .BindU64(7, a.kdf_mem)
        .Bind(8, a.recovery_hash)
        .Bind(9, ByteView(a.recovery_blob))
        .BindU64(10, a.quota_bytes)
        .BindU64(11, a.used_bytes)
        .Bind(12, int64_t{a.locked ? 1 : 0})
        .Bind(13, a.last_activity);
    Status st = s.Run();
    if (st.code() != StatusCode::kAlreadyExists) return st;
    // Say which of the two unique columns collided (the email itself is not echoed).
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT 1 FROM accounts WHERE account_id = ?"));
    q.Bind(1, a.account_id);
    COFFER_ASSIGN_OR_RETURN(bool id_taken, q.Step());
    return AlreadyExistsError(id_taken ? "account " + a.account_id + " already exists"
                                       : "an account with this email already exists");
  });
}

StatusOr<AccountRecord> SqliteMetaStore::GetAccountByEmail(const std::string& email) {
  return Locked("get account by email", [&]() { return QueryAccount("email", email); });
}

StatusOr<AccountRecord> SqliteMetaStore::GetAccount(const std::string& account_id) {
  return Locked("get account " + account_id, [&]() -> StatusOr<AccountRecord> {
    auto a = QueryAccount("account_id", account_id);
    if (!a.ok() && a.status().code() == StatusCode::kNotFound) {
      return NotFoundError("account " + account_id + " not found");
    }
    return a;
  });
}

Status SqliteMetaStore::UpdateLogin(const std::string& account_id, const std::string& login_hash,
                                    ByteView login_salt, uint64_t kdf_ops, uint64_t kdf_mem) {
  return Locked("update login of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s,
                            db_->Prepare("UPDATE accounts SET login_hash = ?, login_salt = ?, kdf_ops = ?, "
                                         "kdf_mem = ? WHERE account_id = ?"));
    s.Bind(1, login_hash).Bind(2, login_salt).BindU64(3, kdf_ops).BindU64(4, kdf_mem).Bind(5, account_id);
    return UpdateAccount(s, account_id, "update login");
  });
}

Status SqliteMetaStore::UpdateRecovery(const std::string& account_id, const std::string& recovery_hash,
                                       ByteView recovery_blob) {
  return Locked("update recovery of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(
        Stmt s,
        db_->Prepare("UPDATE accounts SET recovery_hash = ?, recovery_blob = ? WHERE account_id = ?"));
    s.Bind(1, recovery_hash).Bind(2, recovery_blob).Bind(3, account_id);
    return UpdateAccount(s, account_id, "update recovery");
  });
}

Status SqliteMetaStore::SetLocked(const std::string& account_id, bool locked) {
  return Locked("set lock of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE accounts SET locked = ? WHERE account_id = ?"));
    s.Bind(1, int64_t{locked ? 1 : 0}).Bind(2, account_id);
    return UpdateAccount(s, account_id, "set lock");
  });
}

Status SqliteMetaStore::SetQuota(const std::string& account_id, uint64_t quota_bytes) {
  return Locked("set quota of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE accounts SET quota_bytes = ? WHERE account_id = ?"));
    s.BindU64(1, quota_bytes).Bind(2, account_id);
    return UpdateAccount(s, account_id, "set quota");
  });
}

Status SqliteMetaStore::TouchActivity(const std::string& account_id, int64_t now) {
  return Locked("touch activity of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s,
                            db_->Prepare("UPDATE accounts SET last_activity = ? WHERE account_id = ?"));
    s.Bind(1, now).Bind(2, account_id);
    return UpdateAccount(s, account_id, "touch activity");
  });
}

// ---------------------------------------------------------------------------------------
// Login rate limiting

Status SqliteMetaStore::RecordLoginFailure(const std::string& key, int64_t now) {
  return Locked("record login failure", [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO login_failures (key, at) VALUES (?, ?)"));
    return s.Bind(1, key).Bind(2, now).Run();
  });
}

StatusOr<int> SqliteMetaStore::CountLoginFailures(const std::string& key, int64_t since) {
  return Locked("count login failures", [&]() -> StatusOr<int> {
    COFFER_ASSIGN_OR_RETURN(Stmt q,
                            db_->Prepare("SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?"));
    q.Bind(1, key).Bind(2, since);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    int64_t n = row ? q.ColumnInt(0) : 0;
    return static_cast<int>(std::min<int64_t>(n, std::numeric_limits<int>::max()));
  });
}

Status SqliteMetaStore::ClearLoginFailures(const std::string& key) {
  return Locked("clear login failures", [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("DELETE FROM login_failures WHERE key = ?"));
    return s.Bind(1, key).Run();
  });
}

// ---------------------------------------------------------------------------------------
// Sessions

Status SqliteMetaStore::CreateSession(const SessionRecord& session) {
  return Locked("create session for account " + session.account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare(Cat(Cat("INSERT INTO sessions (", kSessionColumns),
                                                     ") VALUES (?, ?, ?, ?, ?, ?)")));
    s.Bind(1, ByteView(session.token_hash))
        .Bind(2, session.account_id)
        .Bind(3, session.device_id)
        .Bind(4, static_cast<int64_t>(session.kind))
        .Bind(5, session.created_at)
        .Bind(6, session.expires_at);
    Status st = s.Run();
    if (st.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("session token already exists");
    if (st.code() == StatusCode::kNotFound)
      return NotFoundError("account " + session.account_id + " not found");
    return st;
  });
}

StatusOr<SessionRecord> SqliteMetaStore::GetSession(ByteView token_hash, int64_t now) {
  return Locked("get session", [&]() -> StatusOr<SessionRecord> {
    COFFER_ASSIGN_OR_RETURN(Stmt q,
                            db_->Prepare(Cat(Cat("SELECT ", kSessionColumns),
                                             " FROM sessions WHERE token_hash = ? AND expires_at > ?")));
    q.Bind(1, token_hash).Bind(2, now);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("session not found or expired");
    SessionRecord r;
    r.token_hash = q.ColumnBlob(0);
    r.account_id = q.ColumnText(1);
    r.device_id = q.ColumnText(2);
    r.kind = static_cast<SessionKind>(q.ColumnInt(3));
    r.created_at = q.ColumnInt(4);
    r.expires_at = q.ColumnInt(5);
    return r;
  });
}

Status SqliteMetaStore::DeleteSession(ByteView token_hash) {
  return Locked("delete session", [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("DELETE FROM sessions WHERE token_hash = ?"));
    return s.Bind(1, token_hash).Run();
  });
}

Status SqliteMetaStore::DeleteDeviceSessions(const std::string& account_id, const std::string& device_id) {
  return Locked("delete sessions of device " + device_id + " of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s,
                            db_->Prepare("DELETE FROM sessions WHERE account_id = ? AND device_id = ?"));
    return s.Bind(1, account_id).Bind(2, device_id).Run();
  });
}

Status SqliteMetaStore::SetDeviceSessionsKind(const std::string& account_id, const std::string& device_id,
                                              SessionKind kind) {
  return Locked("set session kind of device " + device_id + " of account " + account_id, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("UPDATE sessions SET kind = ? WHERE account_id = ? AND device_id = ?"));
    return s.Bind(1, static_cast<int64_t>(kind)).Bind(2, account_id).Bind(3, device_id).Run();
  });
}

// ---------------------------------------------------------------------------------------
// Devices

Status SqliteMetaStore::PutDevice(const DeviceRecord& d) {
  return Locked("put device " + d.device_id + " of account " + d.account_id, [&]() -> Status {
    // An upsert: created_at is kept from the first insert.
    COFFER_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare(Cat(
                    Cat("INSERT INTO devices (", kDeviceColumns),
                    ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, device_id) DO UPDATE SET "
                    "sign_public_key = excluded.sign_public_key, box_public_key = excluded.box_public_key, "
                    "name = excluded.name, status = excluded.status")));
    s.Bind(1, d.account_id)
        .Bind(2, d.device_id)
        .Bind(3, ByteView(d.sign_public_key))
        .Bind(4, ByteView(d.box_public_key))
        .Bind(5, d.name)
        .Bind(6, static_cast<int64_t>(d.status))
        .Bind(7, d.created_at);
    Status st = s.Run();
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + d.account_id + " not found");
    return st;
  });
}

StatusOr<DeviceRecord> SqliteMetaStore::GetDevice(const std::string& account_id,
                                                  const std::string& device_id) {
  return Locked("get device " + device_id + " of account " + account_id, [&]() -> StatusOr<DeviceRecord> {
    COFFER_ASSIGN_OR_RETURN(Stmt q,
                            db_->Prepare(Cat(Cat("SELECT ", kDeviceColumns),
                                             " FROM devices WHERE account_id = ? AND device_id = ?")));
    q.Bind(1, account_id).Bind(2, device_id);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("device " + device_id + " of account " + account_id + " not found");
    return ReadDevice(q);
  });
}

StatusOr<std::vector<DeviceRecord>> SqliteMetaStore::ListDevices(const std::string& account_id) {
  return Locked("list devices of account " + account_id, [&]() -> StatusOr<std::vector<DeviceRecord>> {
    COFFER_ASSIGN_OR_RETURN(
        Stmt q, db_->Prepare(Cat(Cat("SELECT ", kDeviceColumns),
                                 " FROM devices WHERE account_id = ? ORDER BY created_at, device_id")));
    q.Bind(1, account_id);
    std::vector<DeviceRecord> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(ReadDevice(q));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------
// Device chain

Status SqliteMetaStore::AppendChainEntry(const std::string& account_id, uint64_t seq, ByteView entry) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(seq, "chain entry seq"));
  return Locked("append chain entry " + std::to_string(seq) + " of account " + account_id, [&]() -> Status {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
    COFFER_RETURN_IF_ERROR(LoadUsage(account_id).status());  // kNotFound for a missing account
    uint64_t length = 0;
    {
      COFFER_ASSIGN_OR_RETURN(
          Stmt q,
          db_->Prepare("SELECT seq FROM chain_entries WHERE account_id = ? ORDER BY seq DESC LIMIT 1"));
      q.Bind(1, account_id);
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) length = q.ColumnU64(0) + 1;
    }
    if (seq != length) {
      return AbortedError("device chain of account " + account_id + " has length " + std::to_string(length) +
                          "; cannot append entry " + std::to_string(seq));
    }
    COFFER_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("INSERT INTO chain_entries (account_id, seq, entry) VALUES (?, ?, ?)"));
    COFFER_RETURN_IF_ERROR(s.Bind(1, account_id).BindU64(2, seq).Bind(3, entry).Run());
    return txn.Commit();
  });
}

StatusOr<std::vector<Bytes>> SqliteMetaStore::GetChain(const std::string& account_id, uint64_t from_seq) {
  if (from_seq > kMaxOrdered) return std::vector<Bytes>();
  return Locked("get device chain of account " + account_id, [&]() -> StatusOr<std::vector<Bytes>> {
    COFFER_ASSIGN_OR_RETURN(
        Stmt q,
        db_->Prepare("SELECT entry FROM chain_entries WHERE account_id = ? AND seq >= ? ORDER BY seq"));
    q.Bind(1, account_id).BindU64(2, from_seq);
    std::vector<Bytes> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(q.ColumnBlob(0));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------
// Sealed keys

Status SqliteMetaStore::PutSealedKey(const std::string& account_id, const std::string& device_id,
                                     uint64_t epoch, ByteView blob) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(epoch, "sealed key epoch"));
  return Locked("put sealed key of device " + device_id + " of account " + account_id, [&]() -> Status {
    // The newest epoch wins regardless of arrival order: an older epoch never replaces a newer
    // one (it is accepted and dropped); an equal epoch replaces, so a retry is harmless.
    COFFER_ASSIGN_OR_RETURN(
        Stmt s,
        db_->Prepare("INSERT INTO sealed_keys (account_id, device_id, epoch, blob) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (account_id, device_id) DO UPDATE SET epoch = excluded.epoch, "
                     "blob = excluded.blob WHERE excluded.epoch >= sealed_keys.epoch"));
    Status st = s.Bind(1, account_id).Bind(2, device_id).BindU64(3, epoch).Bind(4, blob).Run();
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + account_id + " not found");
    return st;
  });
}

StatusOr<std::pair<uint64_t, Bytes>> SqliteMetaStore::GetSealedKey(const std::string& account_id,
                                                                   const std::string& device_id) {
  return Locked(
      "get sealed key of device " + device_id + " of account " + account_id,
      [&]() -> StatusOr<std::pair<uint64_t, Bytes>> {
        COFFER_ASSIGN_OR_RETURN(Stmt q,
                                db_->Prepare("SELECT epoch, blob FROM sealed_keys WHERE account_id = ? AND "
                                             "device_id = ?"));
        q.Bind(1, account_id).Bind(2, device_id);
        COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) {
          return NotFoundError("no sealed key for device " + device_id + " of account " + account_id);
        }
        return std::make_pair(q.ColumnU64(0), q.ColumnBlob(1));
      });
}

// ---------------------------------------------------------------------------------------
// Keyring

Status SqliteMetaStore::PutKeyring(const std::string& account_id, uint64_t version, ByteView blob) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(version, "keyring version"));
  return Locked(
      "put keyring version " + std::to_string(version) + " of account " + account_id, [&]() -> Status {
        Transaction txn(db_.get());
        COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
        COFFER_RETURN_IF_ERROR(LoadUsage(account_id).status());
        uint64_t current = 0;
        {
          COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT version FROM keyrings WHERE account_id = ?"));
          q.Bind(1, account_id);
          COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
          if (row) current = q.ColumnU64(0);
        }
        if (version != current + 1) {
          return AbortedError("keyring of account " + account_id + " is at version " +
                              std::to_string(current) + "; cannot store version " + std::to_string(version));
        }
        COFFER_ASSIGN_OR_RETURN(
            Stmt s,
            db_->Prepare("INSERT INTO keyrings (account_id, version, blob) VALUES (?, ?, ?) ON CONFLICT "
                         "(account_id) DO UPDATE SET version = excluded.version, blob = excluded.blob"));
        COFFER_RETURN_IF_ERROR(s.Bind(1, account_id).BindU64(2, version).Bind(3, blob).Run());
        return txn.Commit();
      });
}

StatusOr<std::pair<uint64_t, Bytes>> SqliteMetaStore::GetKeyring(const std::string& account_id) {
  return Locked("get keyring of account " + account_id, [&]() -> StatusOr<std::pair<uint64_t, Bytes>> {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT version, blob FROM keyrings WHERE account_id = ?"));
    q.Bind(1, account_id);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("no keyring for account " + account_id);
    return std::make_pair(q.ColumnU64(0), q.ColumnBlob(1));
  });
}

// ---------------------------------------------------------------------------------------
// Collections

Status SqliteMetaStore::AppendRevision(const std::string& account_id, const std::string& collection_id,
                                       uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(number, "revision number"));
  return Locked(
      "append revision " + std::to_string(number) + " to " + CollectionName(account_id, collection_id),
      [&]() -> Status {
        Transaction txn(db_.get());
        COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
        COFFER_ASSIGN_OR_RETURN(Usage usage, LoadUsage(account_id));
        COFFER_ASSIGN_OR_RETURN(uint64_t head, LoadHead(account_id, collection_id));
        if (number != head + 1) {
          return AbortedError(CollectionName(account_id, collection_id) + " is at head " +
                              std::to_string(head) + "; cannot append revision " + std::to_string(number));
        }
        COFFER_RETURN_IF_ERROR(CheckQuota(usage.quota_bytes, usage.used_bytes, data.size(), account_id,
                                          "revision " + std::to_string(number)));
        // The collection row first: revisions reference it.
        COFFER_ASSIGN_OR_RETURN(
            Stmt c,
            db_->Prepare(
                "INSERT INTO collections (account_id, collection_id, head) VALUES (?, ?, ?) ON CONFLICT "
                "(account_id, collection_id) DO UPDATE SET head = excluded.head"));
        COFFER_RETURN_IF_ERROR(c.Bind(1, account_id).Bind(2, collection_id).BindU64(3, number).Run());
        COFFER_ASSIGN_OR_RETURN(
            Stmt r,
            db_->Prepare(
                "INSERT INTO revisions (account_id, collection_id, number, data) VALUES (?, ?, ?, ?)"));
        COFFER_RETURN_IF_ERROR(
            r.Bind(1, account_id).Bind(2, collection_id).BindU64(3, number).Bind(4, data).Run());
        COFFER_RETURN_IF_ERROR(StoreUsedBytes(account_id, SaturatingAdd(usage.used_bytes, data.size())));
        return txn.Commit();
      });
}

StatusOr<std::vector<RevisionRecord>> SqliteMetaStore::GetRevisions(const std::string& account_id,
                                                                    const std::string& collection_id,
                                                                    uint64_t from, size_t limit,
                                                                    size_t max_bytes) {
  if (limit == 0 || from > kMaxOrdered) return std::vector<RevisionRecord>();
  return Locked(
      "get revisions of " + CollectionName(account_id, collection_id),
      [&]() -> StatusOr<std::vector<RevisionRecord>> {
        Transaction txn(db_.get());
        COFFER_RETURN_IF_ERROR(txn.BeginRead());  // both queries see the same snapshot
        // First decide how many fit using length(), which SQLite answers without reading the
        // blob, so a large revision just past the byte budget is never loaded.
        uint64_t last = 0;
        size_t count = 0;
        {
          COFFER_ASSIGN_OR_RETURN(
              Stmt q,
              db_->Prepare(
                  "SELECT number, length(data) FROM revisions WHERE account_id = ? AND collection_id = ? "
                  "AND number >= ? ORDER BY number LIMIT ?"));
          q.Bind(1, account_id)
              .Bind(2, collection_id)
              .BindU64(3, from)
              .Bind(4, static_cast<int64_t>(std::min<uint64_t>(limit, kMaxOrdered)));
          size_t total = 0;
          for (;;) {
            COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
            if (!row) break;
            const size_t size = static_cast<size_t>(q.ColumnInt(1));
            // At least one revision is returned even if it alone exceeds max_bytes, so a reader
            // always makes progress.
            if (count > 0 && (size > max_bytes || total > max_bytes - size)) break;
            total += size;
            last = q.ColumnU64(0);
            ++count;
          }
        }
        std::vector<RevisionRecord> out;
        if (count == 0) return out;
        out.reserve(count);
        COFFER_ASSIGN_OR_RETURN(
            Stmt q,
            db_->Prepare("SELECT number, data FROM revisions WHERE account_id = ? AND collection_id = ? AND "
                         "number BETWEEN ? AND ? ORDER BY number"));
        q.Bind(1, account_id).Bind(2, collection_id).BindU64(3, from).BindU64(4, last);
        for (;;) {
          COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          out.push_back(RevisionRecord{q.ColumnU64(0), q.ColumnBlob(1)});
        }
        COFFER_RETURN_IF_ERROR(txn.Commit());
        return out;
      });
}

StatusOr<std::vector<CollectionHead>> SqliteMetaStore::ListCollections(const std::string& account_id) {
  return Locked("list collections of account " + account_id, [&]() -> StatusOr<std::vector<CollectionHead>> {
    COFFER_ASSIGN_OR_RETURN(
        Stmt q,
        db_->Prepare(
            "SELECT collection_id, head FROM collections WHERE account_id = ? ORDER BY collection_id"));
    q.Bind(1, account_id);
    std::vector<CollectionHead> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(CollectionHead{q.ColumnText(0), q.ColumnU64(1)});
    }
    return out;
  });
}

StatusOr<uint64_t> SqliteMetaStore::GetHead(const std::string& account_id, const std::string& collection_id) {
  return Locked("get head of " + CollectionName(account_id, collection_id),
                [&]() -> StatusOr<uint64_t> { return LoadHead(account_id, collection_id); });
}

Status SqliteMetaStore::PutCheckpoint(const std::string& account_id, const std::string& collection_id,
                                      uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(number, "checkpoint number"));
  if (number == 0) {
    return InvalidArgumentError("checkpoint of " + CollectionName(account_id, collection_id) +
                                ": revision numbers start at 1");
  }
  return Locked(
      "put checkpoint " + std::to_string(number) + " of " + CollectionName(account_id, collection_id),
      [&]() -> Status {
        Transaction txn(db_.get());
        COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
        COFFER_ASSIGN_OR_RETURN(Usage usage, LoadUsage(account_id));
        COFFER_ASSIGN_OR_RETURN(uint64_t head, LoadHead(account_id, collection_id));
        if (number > head) {
          return InvalidArgumentError("checkpoint " + std::to_string(number) + " of " +
                                      CollectionName(account_id, collection_id) + " is past its head " +
                                      std::to_string(head));
        }
        uint64_t old_size = 0;
        {
          COFFER_ASSIGN_OR_RETURN(
              Stmt q, db_->Prepare("SELECT number, length(data) FROM checkpoints WHERE account_id = ? "
                                   "AND collection_id = ?"));
          q.Bind(1, account_id).Bind(2, collection_id);
          COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
          if (row) {
            // Newer replaces older, whatever the arrival order: an older checkpoint is accepted
            // and dropped. An equal number replaces (a retry or a re-encoding).
            if (number < q.ColumnU64(0)) return OkStatus();
            old_size = static_cast<uint64_t>(q.ColumnInt(1));
          }
        }
        uint64_t used = usage.used_bytes;
        if (data.size() > old_size) {
          const uint64_t growth = data.size() - old_size;
          COFFER_RETURN_IF_ERROR(CheckQuota(usage.quota_bytes, used, growth, account_id,
                                            "checkpoint " + std::to_string(number)));
          used = SaturatingAdd(used, growth);
        } else {
          // Shrinking is always allowed, even over quota: it frees space.
          const uint64_t shrink = old_size - data.size();
          used = used > shrink ? used - shrink : 0;
        }
        COFFER_ASSIGN_OR_RETURN(
            Stmt s,
            db_->Prepare(
                "INSERT INTO checkpoints (account_id, collection_id, number, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account_id, collection_id) DO UPDATE SET number = excluded.number, "
                "data = excluded.data"));
        COFFER_RETURN_IF_ERROR(
            s.Bind(1, account_id).Bind(2, collection_id).BindU64(3, number).Bind(4, data).Run());
        COFFER_RETURN_IF_ERROR(StoreUsedBytes(account_id, used));
        return txn.Commit();
      });
}

StatusOr<RevisionRecord> SqliteMetaStore::GetCheckpoint(const std::string& account_id,
                                                        const std::string& collection_id) {
  return Locked(
      "get checkpoint of " + CollectionName(account_id, collection_id), [&]() -> StatusOr<RevisionRecord> {
        COFFER_ASSIGN_OR_RETURN(
            Stmt q,
            db_->Prepare("SELECT number, data FROM checkpoints WHERE account_id = ? AND collection_id = ?"));
        q.Bind(1, account_id).Bind(2, collection_id);
        COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return NotFoundError("no checkpoint for " + CollectionName(account_id, collection_id));
        return RevisionRecord{q.ColumnU64(0), q.ColumnBlob(1)};
      });
}

// ---------------------------------------------------------------------------------------
// Chunk index

StatusOr<bool> SqliteMetaStore::AddChunk(const std::string& account_id, const ChunkRecord& chunk) {
  COFFER_ASSIGN_OR_RETURN(std::vector<bool> added, AddChunks(account_id, {chunk}));
  return static_cast<bool>(added.at(0));
}

StatusOr<std::vector<bool>> SqliteMetaStore::AddChunks(const std::string& account_id,
                                                       const std::vector<ChunkRecord>& chunks) {
  for (const ChunkRecord& chunk : chunks) {
    COFFER_RETURN_IF_ERROR(CheckOrdered(chunk.size, "chunk size"));
    COFFER_RETURN_IF_ERROR(CheckOrdered(chunk.pack_offset, "chunk pack offset"));
  }
  const std::string what = chunks.size() == 1 ? "add chunk " + chunks[0].chunk_id + " of account " + account_id
                                              : "add " + std::to_string(chunks.size()) + " chunks of account " + account_id;
  return Locked(what, [&]() -> StatusOr<std::vector<bool>> {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
    COFFER_ASSIGN_OR_RETURN(Usage usage, LoadUsage(account_id));
    std::vector<bool> added;
    added.reserve(chunks.size());
    uint64_t used = usage.used_bytes;
    for (const ChunkRecord& chunk : chunks) {
      {
        COFFER_ASSIGN_OR_RETURN(Stmt q,
                                db_->Prepare("SELECT 1 FROM chunks WHERE account_id = ? AND chunk_id = ?"));
        q.Bind(1, account_id).Bind(2, chunk.chunk_id);
        COFFER_ASSIGN_OR_RETURN(bool exists, q.Step());
        // Checked before the quota: re-adding a stored chunk changes nothing, so it succeeds
        // even when the account is full.
        if (exists) {
          added.push_back(false);
          continue;
        }
      }
      COFFER_RETURN_IF_ERROR(CheckQuota(usage.quota_bytes, used, chunk.size, account_id, "chunk " + chunk.chunk_id));
      COFFER_ASSIGN_OR_RETURN(
          Stmt s, db_->Prepare("INSERT INTO chunks (account_id, chunk_id, size, sha256, created_at, pack_id, "
                               "pack_offset) VALUES (?, ?, ?, ?, ?, ?, ?)"));
      COFFER_RETURN_IF_ERROR(s.Bind(1, account_id)
                                 .Bind(2, chunk.chunk_id)
                                 .BindU64(3, chunk.size)
                                 .Bind(4, ByteView(chunk.sha256))
                                 .Bind(5, chunk.created_at)
                                 .Bind(6, chunk.pack_id)
                                 .BindU64(7, chunk.pack_offset)
                                 .Run());
      used = SaturatingAdd(used, chunk.size);
      added.push_back(true);
    }
    if (used != usage.used_bytes) COFFER_RETURN_IF_ERROR(StoreUsedBytes(account_id, used));
    COFFER_RETURN_IF_ERROR(txn.Commit());
    return added;
  });
}

StatusOr<ChunkRecord> SqliteMetaStore::GetChunk(const std::string& account_id, const std::string& chunk_id) {
  return Locked("get chunk " + chunk_id + " of account " + account_id, [&]() -> StatusOr<ChunkRecord> {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks "
                                                 "WHERE account_id = ? AND chunk_id = ?"));
    q.Bind(1, account_id).Bind(2, chunk_id);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("chunk " + chunk_id + " of account " + account_id + " not found");
    return ReadChunk(q);
  });
}

StatusOr<std::vector<bool>> SqliteMetaStore::HaveChunks(const std::string& account_id,
                                                        const std::vector<std::string>& chunk_ids) {
  return Locked("look up chunks of account " + account_id, [&]() -> StatusOr<std::vector<bool>> {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginRead());  // one snapshot for all ids
    std::vector<bool> out;
    out.reserve(chunk_ids.size());
    for (const std::string& id : chunk_ids) {
      COFFER_ASSIGN_OR_RETURN(Stmt q,
                              db_->Prepare("SELECT 1 FROM chunks WHERE account_id = ? AND chunk_id = ?"));
      q.Bind(1, account_id).Bind(2, id);
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      out.push_back(row);
    }
    COFFER_RETURN_IF_ERROR(txn.Commit());
    return out;
  });
}

Status SqliteMetaStore::ListChunks(const std::string& account_id,
                                   const std::function<bool(const ChunkRecord&)>& fn) {
  // Keyset paging on the primary key; the lock is held only while a page is read.
  std::optional<std::string> after;
  for (;;) {
    auto page = [&]() -> StatusOr<std::vector<ChunkRecord>> {
      return Locked("list chunks of account " + account_id, [&]() -> StatusOr<std::vector<ChunkRecord>> {
        COFFER_ASSIGN_OR_RETURN(
            Stmt q,
            db_->Prepare(after.has_value()
                             ? "SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks WHERE account_id = ? "
                               "AND chunk_id > ? ORDER BY chunk_id LIMIT ?"
                             : "SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks WHERE account_id = ? "
                               "ORDER BY chunk_id LIMIT ?"));
        int i = 1;
        q.Bind(i++, account_id);
        if (after.has_value()) q.Bind(i++, *after);
        q.Bind(i++, kListChunksPage);
        std::vector<ChunkRecord> out;
        for (;;) {
          COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          out.push_back(ReadChunk(q));
        }
        return out;
      });
    }();
    if (!page.ok()) return page.status();
    for (const ChunkRecord& c : *page) {
      if (!fn(c)) return OkStatus();
    }
    if (page->size() < static_cast<size_t>(kListChunksPage)) return OkStatus();
    after = page->back().chunk_id;
  }
}

Status SqliteMetaStore::TouchChunks(const std::string& account_id, const std::vector<std::string>& chunk_ids,
                                    int64_t now) {
  if (chunk_ids.empty()) return OkStatus();
  return Locked("touch chunks of account " + account_id, [&]() -> Status {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
    for (const std::string& id : chunk_ids) {
      // Prepare() hands out the cached statement, reset by the previous Stmt's destructor.
      COFFER_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE chunks SET created_at = ? WHERE account_id = ? AND "
                                                   "chunk_id = ? AND created_at < ?"));
      COFFER_RETURN_IF_ERROR(u.Bind(1, now).Bind(2, account_id).Bind(3, id).Bind(4, now).Run());
    }
    return txn.Commit();
  });
}

Status SqliteMetaStore::DeleteChunk(const std::string& account_id, const std::string& chunk_id) {
  return Locked("delete chunk " + chunk_id + " of account " + account_id, [&]() -> Status {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
    uint64_t size = 0;
    {
      COFFER_ASSIGN_OR_RETURN(Stmt q,
                              db_->Prepare("SELECT size FROM chunks WHERE account_id = ? AND chunk_id = ?"));
      q.Bind(1, account_id).Bind(2, chunk_id);
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return OkStatus();  // already gone: idempotent
      size = q.ColumnU64(0);
    }
    COFFER_ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM chunks WHERE account_id = ? AND chunk_id = ?"));
    COFFER_RETURN_IF_ERROR(d.Bind(1, account_id).Bind(2, chunk_id).Run());
    COFFER_ASSIGN_OR_RETURN(Usage usage, LoadUsage(account_id));
    COFFER_RETURN_IF_ERROR(StoreUsedBytes(account_id, usage.used_bytes > size ? usage.used_bytes - size : 0));
    return txn.Commit();
  });
}

// ---------------------------------------------------------------------------------------
// Mailboxes

Status SqliteMetaStore::PutMessage(const std::string& account_id, const std::string& box,
                                   const std::string& key, ByteView data, int64_t expires_at) {
  // The only clock read in the store, because this form of the call carries no `now`.
  return PutMessageAt(account_id, box, key, data, expires_at, static_cast<int64_t>(std::time(nullptr)));
}

Status SqliteMetaStore::PutMessageAt(const std::string& account_id, const std::string& box,
                                     const std::string& key, ByteView data, int64_t expires_at, int64_t now) {
  return Locked("put message " + box + "/" + key + " of account " + account_id, [&]() -> Status {
    Transaction txn(db_.get());
    COFFER_RETURN_IF_ERROR(txn.BeginImmediate());
    {
      COFFER_ASSIGN_OR_RETURN(
          Stmt q,
          db_->Prepare(
              "SELECT 1 FROM messages WHERE account_id = ? AND box = ? AND key = ? AND expires_at > ?"));
      q.Bind(1, account_id).Bind(2, box).Bind(3, key).Bind(4, now);
      COFFER_ASSIGN_OR_RETURN(bool live, q.Step());
      if (live)
        return AlreadyExistsError("message " + box + "/" + key + " of account " + account_id +
                                  " already exists");
    }
    // An expired message under the same name is replaced.
    COFFER_ASSIGN_OR_RETURN(
        Stmt s,
        db_->Prepare("INSERT INTO messages (account_id, box, key, data, expires_at) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT (account_id, box, key) DO UPDATE SET data = excluded.data, "
                     "expires_at = excluded.expires_at"));
    Status st = s.Bind(1, account_id).Bind(2, box).Bind(3, key).Bind(4, data).Bind(5, expires_at).Run();
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + account_id + " not found");
    COFFER_RETURN_IF_ERROR(st);
    return txn.Commit();
  });
}

StatusOr<Bytes> SqliteMetaStore::GetMessage(const std::string& account_id, const std::string& box,
                                            const std::string& key, int64_t now) {
  return Locked("get message " + box + "/" + key + " of account " + account_id, [&]() -> StatusOr<Bytes> {
    COFFER_ASSIGN_OR_RETURN(Stmt q,
                            db_->Prepare("SELECT data FROM messages WHERE account_id = ? AND box = ? AND "
                                         "key = ? AND expires_at > ?"));
    q.Bind(1, account_id).Bind(2, box).Bind(3, key).Bind(4, now);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("message " + box + "/" + key + " of account " + account_id + " not found");
    return q.ColumnBlob(0);
  });
}

Status SqliteMetaStore::DeleteExpiredMessages(int64_t now) {
  return Locked("delete expired messages", [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("DELETE FROM messages WHERE expires_at <= ?"));
    return s.Bind(1, now).Run();
  });
}

// ---------------------------------------------------------------------------------------
// Settings

StatusOr<Bytes> SqliteMetaStore::GetSetting(const std::string& name) {
  return Locked("get setting " + name, [&]() -> StatusOr<Bytes> {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT value FROM settings WHERE name = ?"));
    q.Bind(1, name);
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NotFoundError("setting " + name + " not found");
    return q.ColumnBlob(0);
  });
}

Status SqliteMetaStore::PutSetting(const std::string& name, ByteView value) {
  return Locked("put setting " + name, [&]() -> Status {
    COFFER_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) "
                             "DO UPDATE SET value = excluded.value"));
    return s.Bind(1, name).Bind(2, value).Run();
  });
}

// ---------------------------------------------------------------------------------------
// Enumeration, for migration

StatusOr<std::vector<std::string>> SqliteMetaStore::ListAccountIds(const std::string& after, size_t limit) {
  if (limit == 0) return std::vector<std::string>();
  return Locked("list accounts", [&]() -> StatusOr<std::vector<std::string>> {
    COFFER_ASSIGN_OR_RETURN(
        Stmt q, db_->Prepare("SELECT account_id FROM accounts WHERE account_id > ? ORDER BY account_id LIMIT ?"));
    q.Bind(1, after).Bind(2, static_cast<int64_t>(std::min<uint64_t>(limit, kMaxOrdered)));
    std::vector<std::string> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(q.ColumnText(0));
    }
    return out;
  });
}

StatusOr<std::vector<std::string>> SqliteMetaStore::ListSettingNames() {
  return Locked("list settings", [&]() -> StatusOr<std::vector<std::string>> {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT name FROM settings ORDER BY name"));
    std::vector<std::string> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(q.ColumnText(0));
    }
    return out;
  });
}

StatusOr<std::vector<MetaStore::SealedKeyEntry>> SqliteMetaStore::ListSealedKeys(const std::string& account_id) {
  return Locked("list sealed keys of account " + account_id, [&]() -> StatusOr<std::vector<SealedKeyEntry>> {
    COFFER_ASSIGN_OR_RETURN(
        Stmt q,
        db_->Prepare("SELECT device_id, epoch, blob FROM sealed_keys WHERE account_id = ? ORDER BY device_id"));
    q.Bind(1, account_id);
    std::vector<SealedKeyEntry> out;
    for (;;) {
      COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(SealedKeyEntry{q.ColumnText(0), q.ColumnU64(1), q.ColumnBlob(2)});
    }
    return out;
  });
}

}  // namespace coffer::store
