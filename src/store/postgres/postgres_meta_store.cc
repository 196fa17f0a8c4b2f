#include "store/postgres/postgres_meta_store.h"

#include <algorithm>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "store/postgres/pg_run.h"
#include "store/postgres/pg_schema.h"

namespace coffer::store {
namespace {

using pg::Connection;
using pg::Params;
using pg::Result;
using pg::Transaction;

// Rows per ListChunks page: large enough to amortise the query, small enough that an
// account with millions of chunks is never held in memory at once.
constexpr int64_t kListChunksPage = 512;
constexpr uint64_t kMaxOrdered = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

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


std::string CollectionName(const std::string& account_id, const std::string& collection_id) {
  return "collection " + collection_id + " of account " + account_id;
}


constexpr const char* kAccountColumns =
    "account_id, email, created_at, login_hash, login_salt, kdf_ops, kdf_mem, recovery_hash, recovery_blob, "
    "quota_bytes, used_bytes, locked, last_activity";

AccountRecord ReadAccount(const Result& r, int row) {
  AccountRecord a;
  a.account_id = r.Text(row, 0);
  a.email = r.Text(row, 1);
  a.created_at = r.Int(row, 2);
  a.login_hash = r.Text(row, 3);
  a.login_salt = r.Blob(row, 4);
  a.kdf_ops = r.U64(row, 5);
  a.kdf_mem = r.U64(row, 6);
  a.recovery_hash = r.Text(row, 7);
  a.recovery_blob = r.Blob(row, 8);
  a.quota_bytes = r.U64(row, 9);
  a.used_bytes = r.U64(row, 10);
  a.locked = r.Bool(row, 11);
  a.last_activity = r.Int(row, 12);
  return a;
}

constexpr const char* kDeviceColumns =
    "account_id, device_id, sign_public_key, box_public_key, name, status, created_at";

DeviceRecord ReadDevice(const Result& r, int row) {
  DeviceRecord d;
  d.account_id = r.Text(row, 0);
  d.device_id = r.Text(row, 1);
  d.sign_public_key = r.Blob(row, 2);
  d.box_public_key = r.Blob(row, 3);
  d.name = r.Text(row, 4);
  d.status = static_cast<DeviceStatus>(r.Int(row, 5));
  d.created_at = r.Int(row, 6);
  return d;
}

ChunkRecord ReadChunk(const Result& r, int row) {
  ChunkRecord c;
  c.chunk_id = r.Text(row, 0);
  c.size = r.U64(row, 1);
  c.sha256 = r.Blob(row, 2);
  c.created_at = r.Int(row, 3);
  c.pack_id = r.Text(row, 4);
  c.pack_offset = r.U64(row, 5);
  return c;
}

std::string Cat(std::string_view a, std::string_view b, std::string_view c = "") {
  std::string out(a);
  out += b;
  out += c;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Setup

PostgresMetaStore::PostgresMetaStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

PostgresMetaStore::~PostgresMetaStore() = default;

StatusOr<std::unique_ptr<PostgresMetaStore>> PostgresMetaStore::Open(const std::string& url) {
  COFFER_ASSIGN_OR_RETURN(pg::ConnectionConfig config, pg::ParseConnectionUrl(url));
  const std::string schema = config.schema;
  auto pool = std::make_unique<pg::Pool>(std::move(config));
  {
    COFFER_ASSIGN_OR_RETURN(pg::Pool::Lease lease, pool->Acquire());
    Status migrated = pg::MigrateSchema(*lease, schema);
    if (!migrated.ok()) {
      lease.Discard();  // also drops the advisory lock if the unlock did not get through
      return migrated;
    }
  }
  return std::unique_ptr<PostgresMetaStore>(new PostgresMetaStore(std::move(pool)));
}

template <typename Fn>
auto PostgresMetaStore::Run(const std::string& what, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  return pg::RunWithRetry(*pool_, what, std::forward<Fn>(fn));
}

StatusOr<PostgresMetaStore::Usage> PostgresMetaStore::LockAccount(Connection& conn,
                                                                  const std::string& account_id) {
  // NO KEY UPDATE (not UPDATE): serializes this account's writers without blocking inserts
  // elsewhere whose foreign key only needs the account to exist (KEY SHARE).
  COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT quota_bytes, used_bytes FROM accounts WHERE account_id = "
                                              "$1 FOR NO KEY UPDATE",
                                              Params().Text(account_id)));
  if (r.rows() == 0) return NotFoundError("account " + account_id + " not found");
  return Usage{r.U64(0, 0), r.U64(0, 1)};
}

Status PostgresMetaStore::StoreUsedBytes(Connection& conn, const std::string& account_id, uint64_t used_bytes) {
  return conn.Exec("UPDATE accounts SET used_bytes = $1 WHERE account_id = $2",
                   Params().U64(used_bytes).Text(account_id))
      .status();
}

StatusOr<uint64_t> PostgresMetaStore::LoadHead(Connection& conn, const std::string& account_id,
                                               const std::string& collection_id) {
  COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT head FROM collections WHERE account_id = $1 AND "
                                              "collection_id = $2",
                                              Params().Text(account_id).Text(collection_id)));
  return r.rows() > 0 ? r.U64(0, 0) : uint64_t{0};
}

Status PostgresMetaStore::UpdateAccount(const std::string& what, const std::string& account_id,
                                        const std::string& sql, const Params& params) {
  return Run(what + " of account " + account_id, [&](Connection& conn) -> Status {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(sql, params));
    if (r.affected() == 0) return NotFoundError(what + ": account " + account_id + " not found");
    return OkStatus();
  });
}

// ---------------------------------------------------------------------------------------
// Accounts

Status PostgresMetaStore::CreateAccount(const AccountRecord& a) {
  return Run("create account " + a.account_id, [&](Connection& conn) -> Status {
    Status st = conn.Exec(Cat("INSERT INTO accounts (", kAccountColumns,
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"),
                          Params()
                              .Text(a.account_id)
                              .Text(a.email)
                              .Int(a.created_at)
                              .Text(a.login_hash)
                              .Blob(a.login_salt)
                              .U64(a.kdf_ops)
                              .U64(a.kdf_mem)
                              .Text(a.recovery_hash)
                              .Blob(a.recovery_blob)
                              .U64(a.quota_bytes)
                              .U64(a.used_bytes)
                              .Bool(a.locked)
                              .Int(a.last_activity))
                    .status();
    if (st.code() != StatusCode::kAlreadyExists) return st;
    // Say which of the two unique columns collided (the email itself is not echoed).
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec("SELECT 1 FROM accounts WHERE account_id = $1", Params().Text(a.account_id)));
    return AlreadyExistsError(r.rows() > 0 ? "account " + a.account_id + " already exists"
                                           : "an account with this email already exists");
  });
}

StatusOr<AccountRecord> PostgresMetaStore::GetAccountByEmail(const std::string& email) {
  return Run("get account by email", [&](Connection& conn) -> StatusOr<AccountRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec(Cat("SELECT ", kAccountColumns, " FROM accounts WHERE email = $1"),
                                                Params().Text(email)));
    if (r.rows() == 0) return NotFoundError("account not found");
    return ReadAccount(r, 0);
  });
}

StatusOr<AccountRecord> PostgresMetaStore::GetAccount(const std::string& account_id) {
  return Run("get account " + account_id, [&](Connection& conn) -> StatusOr<AccountRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r,
                            conn.Exec(Cat("SELECT ", kAccountColumns, " FROM accounts WHERE account_id = $1"),
                                      Params().Text(account_id)));
    if (r.rows() == 0) return NotFoundError("account " + account_id + " not found");
    return ReadAccount(r, 0);
  });
}

Status PostgresMetaStore::UpdateLogin(const std::string& account_id, const std::string& login_hash,
                                      ByteView login_salt, uint64_t kdf_ops, uint64_t kdf_mem) {
  return UpdateAccount("update login", account_id,
                       "UPDATE accounts SET login_hash = $1, login_salt = $2, kdf_ops = $3, kdf_mem = $4 "
                       "WHERE account_id = $5",
                       Params().Text(login_hash).Blob(login_salt).U64(kdf_ops).U64(kdf_mem).Text(account_id));
}

Status PostgresMetaStore::UpdateRecovery(const std::string& account_id, const std::string& recovery_hash,
                                         ByteView recovery_blob) {
  return UpdateAccount("update recovery", account_id,
                       "UPDATE accounts SET recovery_hash = $1, recovery_blob = $2 WHERE account_id = $3",
                       Params().Text(recovery_hash).Blob(recovery_blob).Text(account_id));
}

Status PostgresMetaStore::SetLocked(const std::string& account_id, bool locked) {
  return UpdateAccount("set lock", account_id, "UPDATE accounts SET locked = $1 WHERE account_id = $2",
                       Params().Bool(locked).Text(account_id));
}

Status PostgresMetaStore::SetQuota(const std::string& account_id, uint64_t quota_bytes) {
  return UpdateAccount("set quota", account_id, "UPDATE accounts SET quota_bytes = $1 WHERE account_id = $2",
                       Params().U64(quota_bytes).Text(account_id));
}

Status PostgresMetaStore::TouchActivity(const std::string& account_id, int64_t now) {
  return UpdateAccount("touch activity", account_id,
                       "UPDATE accounts SET last_activity = $1 WHERE account_id = $2",
                       Params().Int(now).Text(account_id));
}

// ---------------------------------------------------------------------------------------
// Login rate limiting

Status PostgresMetaStore::RecordLoginFailure(const std::string& key, int64_t now) {
  return Run("record login failure", [&](Connection& conn) -> Status {
    return conn.Exec("INSERT INTO login_failures (key, at) VALUES ($1, $2)", Params().Text(key).Int(now)).status();
  });
}

StatusOr<int> PostgresMetaStore::CountLoginFailures(const std::string& key, int64_t since) {
  return Run("count login failures", [&](Connection& conn) -> StatusOr<int> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at >= $2",
                                                Params().Text(key).Int(since)));
    return static_cast<int>(std::min<int64_t>(r.Int(0, 0), std::numeric_limits<int>::max()));
  });
}

Status PostgresMetaStore::ClearLoginFailures(const std::string& key) {
  return Run("clear login failures", [&](Connection& conn) -> Status {
    return conn.Exec("DELETE FROM login_failures WHERE key = $1", Params().Text(key)).status();
  });
}

// ---------------------------------------------------------------------------------------
// Sessions

Status PostgresMetaStore::CreateSession(const SessionRecord& session) {
  return Run("create session for account " + session.account_id, [&](Connection& conn) -> Status {
    Status st = conn.Exec("INSERT INTO sessions (token_hash, account_id, device_id, kind, created_at, expires_at) "
                          "VALUES ($1, $2, $3, $4, $5, $6)",
                          Params()
                              .Blob(session.token_hash)
                              .Text(session.account_id)
                              .Text(session.device_id)
                              .Int(static_cast<int64_t>(session.kind))
                              .Int(session.created_at)
                              .Int(session.expires_at))
                    .status();
    if (st.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("session token already exists");
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + session.account_id + " not found");
    return st;
  });
}

StatusOr<SessionRecord> PostgresMetaStore::GetSession(ByteView token_hash, int64_t now) {
  return Run("get session", [&](Connection& conn) -> StatusOr<SessionRecord> {
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec("SELECT token_hash, account_id, device_id, kind, created_at, expires_at FROM sessions "
                            "WHERE token_hash = $1 AND expires_at > $2",
                            Params().Blob(token_hash).Int(now)));
    if (r.rows() == 0) return NotFoundError("session not found or expired");
    SessionRecord s;
    s.token_hash = r.Blob(0, 0);
    s.account_id = r.Text(0, 1);
    s.device_id = r.Text(0, 2);
    s.kind = static_cast<SessionKind>(r.Int(0, 3));
    s.created_at = r.Int(0, 4);
    s.expires_at = r.Int(0, 5);
    return s;
  });
}

Status PostgresMetaStore::DeleteSession(ByteView token_hash) {
  return Run("delete session", [&](Connection& conn) -> Status {
    return conn.Exec("DELETE FROM sessions WHERE token_hash = $1", Params().Blob(token_hash)).status();
  });
}

Status PostgresMetaStore::DeleteDeviceSessions(const std::string& account_id, const std::string& device_id) {
  return Run("delete sessions of device " + device_id + " of account " + account_id,
             [&](Connection& conn) -> Status {
               return conn.Exec("DELETE FROM sessions WHERE account_id = $1 AND device_id = $2",
                                Params().Text(account_id).Text(device_id))
                   .status();
             });
}

Status PostgresMetaStore::SetDeviceSessionsKind(const std::string& account_id, const std::string& device_id,
                                                SessionKind kind) {
  return Run("set session kind of device " + device_id + " of account " + account_id,
             [&](Connection& conn) -> Status {
               return conn.Exec("UPDATE sessions SET kind = $1 WHERE account_id = $2 AND device_id = $3",
                                Params().Int(static_cast<int64_t>(kind)).Text(account_id).Text(device_id))
                   .status();
             });
}

// ---------------------------------------------------------------------------------------
// Devices

Status PostgresMetaStore::PutDevice(const DeviceRecord& d) {
  return Run("put device " + d.device_id + " of account " + d.account_id, [&](Connection& conn) -> Status {
    // An upsert: created_at is kept from the first insert.
    Status st = conn.Exec(Cat("INSERT INTO devices (", kDeviceColumns,
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, device_id) DO "
                              "UPDATE SET sign_public_key = EXCLUDED.sign_public_key, box_public_key = "
                              "EXCLUDED.box_public_key, name = EXCLUDED.name, status = EXCLUDED.status"),
                          Params()
                              .Text(d.account_id)
                              .Text(d.device_id)
                              .Blob(d.sign_public_key)
                              .Blob(d.box_public_key)
                              .Text(d.name)
                              .Int(static_cast<int64_t>(d.status))
                              .Int(d.created_at))
                    .status();
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + d.account_id + " not found");
    return st;
  });
}

StatusOr<DeviceRecord> PostgresMetaStore::GetDevice(const std::string& account_id, const std::string& device_id) {
  return Run("get device " + device_id + " of account " + account_id, [&](Connection& conn) -> StatusOr<DeviceRecord> {
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec(Cat("SELECT ", kDeviceColumns, " FROM devices WHERE account_id = $1 AND device_id = $2"),
                            Params().Text(account_id).Text(device_id)));
    if (r.rows() == 0) return NotFoundError("device " + device_id + " of account " + account_id + " not found");
    return ReadDevice(r, 0);
  });
}

StatusOr<std::vector<DeviceRecord>> PostgresMetaStore::ListDevices(const std::string& account_id) {
  return Run("list devices of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<DeviceRecord>> {
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec(Cat("SELECT ", kDeviceColumns,
                                " FROM devices WHERE account_id = $1 ORDER BY created_at, device_id"),
                            Params().Text(account_id)));
    std::vector<DeviceRecord> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadDevice(r, i));
    return out;
  });
}

// ---------------------------------------------------------------------------------------
// Device chain

Status PostgresMetaStore::AppendChainEntry(const std::string& account_id, uint64_t seq, ByteView entry) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(seq, "chain entry seq"));
  return Run("append chain entry " + std::to_string(seq) + " of account " + account_id,
             [&](Connection& conn) -> Status {
               Transaction txn(conn);
               COFFER_RETURN_IF_ERROR(txn.Begin());
               COFFER_RETURN_IF_ERROR(LockAccount(conn, account_id).status());
               COFFER_ASSIGN_OR_RETURN(
                   Result r, conn.Exec("SELECT seq FROM chain_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT 1",
                                       Params().Text(account_id)));
               const uint64_t length = r.rows() > 0 ? r.U64(0, 0) + 1 : 0;
               if (seq != length) {
                 return AbortedError("device chain of account " + account_id + " has length " +
                                     std::to_string(length) + "; cannot append entry " + std::to_string(seq));
               }
               Status st = conn.Exec("INSERT INTO chain_entries (account_id, seq, entry) VALUES ($1, $2, $3)",
                                     Params().Text(account_id).U64(seq).Blob(entry))
                               .status();
               if (st.code() == StatusCode::kAlreadyExists) {
                 return AbortedError("device chain entry " + std::to_string(seq) + " of account " + account_id +
                                     " was appended concurrently");
               }
               COFFER_RETURN_IF_ERROR(st);
               return txn.Commit();
             });
}

StatusOr<std::vector<Bytes>> PostgresMetaStore::GetChain(const std::string& account_id, uint64_t from_seq) {
  if (from_seq > kMaxOrdered) return std::vector<Bytes>();
  return Run("get device chain of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<Bytes>> {
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec("SELECT entry FROM chain_entries WHERE account_id = $1 AND seq >= $2 ORDER BY seq",
                            Params().Text(account_id).U64(from_seq)));
    std::vector<Bytes> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.Blob(i, 0));
    return out;
  });
}

// ---------------------------------------------------------------------------------------
// Sealed keys

Status PostgresMetaStore::PutSealedKey(const std::string& account_id, const std::string& device_id,
                                       uint64_t epoch, ByteView blob) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(epoch, "sealed key epoch"));
  return Run("put sealed key of device " + device_id + " of account " + account_id, [&](Connection& conn) -> Status {
    // The newest epoch wins regardless of arrival order: an older epoch never replaces a newer
    // one (it is accepted and dropped); an equal epoch replaces, so a retry is harmless. One
    // statement, so the compare and the write are atomic without a lock.
    Status st = conn.Exec("INSERT INTO sealed_keys (account_id, device_id, epoch, blob) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (account_id, device_id) DO UPDATE SET epoch = EXCLUDED.epoch, blob = "
                          "EXCLUDED.blob WHERE EXCLUDED.epoch >= sealed_keys.epoch",
                          Params().Text(account_id).Text(device_id).U64(epoch).Blob(blob))
                    .status();
    if (st.code() == StatusCode::kNotFound) return NotFoundError("account " + account_id + " not found");
    return st;
  });
}

StatusOr<std::pair<uint64_t, Bytes>> PostgresMetaStore::GetSealedKey(const std::string& account_id,
                                                                     const std::string& device_id) {
  return Run("get sealed key of device " + device_id + " of account " + account_id,
             [&](Connection& conn) -> StatusOr<std::pair<uint64_t, Bytes>> {
               COFFER_ASSIGN_OR_RETURN(
                   Result r, conn.Exec("SELECT epoch, blob FROM sealed_keys WHERE account_id = $1 AND device_id = $2",
                                       Params().Text(account_id).Text(device_id)));
               if (r.rows() == 0) {
                 return NotFoundError("no sealed key for device " + device_id + " of account " + account_id);
               }
               return std::make_pair(r.U64(0, 0), r.Blob(0, 1));
             });
}

// ---------------------------------------------------------------------------------------
// Keyring

Status PostgresMetaStore::PutKeyring(const std::string& account_id, uint64_t version, ByteView blob) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(version, "keyring version"));
  return Run("put keyring version " + std::to_string(version) + " of account " + account_id,
             [&](Connection& conn) -> Status {
               Transaction txn(conn);
               COFFER_RETURN_IF_ERROR(txn.Begin());
               COFFER_RETURN_IF_ERROR(LockAccount(conn, account_id).status());
               COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT version FROM keyrings WHERE account_id = $1",
                                                           Params().Text(account_id)));
               const uint64_t current = r.rows() > 0 ? r.U64(0, 0) : 0;
               if (version != current + 1) {
                 return AbortedError("keyring of account " + account_id + " is at version " +
                                     std::to_string(current) + "; cannot store version " + std::to_string(version));
               }
               COFFER_RETURN_IF_ERROR(
                   conn.Exec("INSERT INTO keyrings (account_id, version, blob) VALUES ($1, $2, $3) ON CONFLICT "
                             "(account_id) DO UPDATE SET version = EXCLUDED.version, blob = EXCLUDED.blob",
                             Params().Text(account_id).U64(version).Blob(blob))
                       .status());
               return txn.Commit();
             });
}

StatusOr<std::pair<uint64_t, Bytes>> PostgresMetaStore::GetKeyring(const std::string& account_id) {
  return Run("get keyring of account " + account_id, [&](Connection& conn) -> StatusOr<std::pair<uint64_t, Bytes>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT version, blob FROM keyrings WHERE account_id = $1",
                                                Params().Text(account_id)));
    if (r.rows() == 0) return NotFoundError("no keyring for account " + account_id);
    return std::make_pair(r.U64(0, 0), r.Blob(0, 1));
  });
}

// ---------------------------------------------------------------------------------------
// Collections

Status PostgresMetaStore::AppendRevision(const std::string& account_id, const std::string& collection_id,
                                         uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(number, "revision number"));
  return Run(
      "append revision " + std::to_string(number) + " to " + CollectionName(account_id, collection_id),
      [&](Connection& conn) -> Status {
        Transaction txn(conn);
        COFFER_RETURN_IF_ERROR(txn.Begin());
        COFFER_ASSIGN_OR_RETURN(Usage usage, LockAccount(conn, account_id));
        // A separate statement after the lock: in READ COMMITTED it takes a fresh snapshot, so
        // it sees the head committed by whoever held the lock before us.
        COFFER_ASSIGN_OR_RETURN(uint64_t head, LoadHead(conn, account_id, collection_id));
        if (number != head + 1) {
          return AbortedError(CollectionName(account_id, collection_id) + " is at head " + std::to_string(head) +
                              "; cannot append revision " + std::to_string(number));
        }
        COFFER_RETURN_IF_ERROR(CheckQuota(usage.quota_bytes, usage.used_bytes, data.size(), account_id,
                                          "revision " + std::to_string(number)));
        // The head, the revision and the charge in one statement (one round trip); the
        // revision's foreign key is checked at the end of the statement, after the head upsert.
        Status st = conn.Exec("WITH head AS (INSERT INTO collections (account_id, collection_id, head) "
                              "VALUES ($1, $2, $3) ON CONFLICT (account_id, collection_id) DO UPDATE SET head = "
                              "EXCLUDED.head), charge AS (UPDATE accounts SET used_bytes = $5 WHERE "
                              "account_id = $1) INSERT INTO revisions (account_id, collection_id, number, data) "
                              "VALUES ($1, $2, $3, $4)",
                              Params()
                                  .Text(account_id)
                                  .Text(collection_id)
                                  .U64(number)
                                  .Blob(data)
                                  .U64(SaturatingAdd(usage.used_bytes, data.size())))
                        .status();
        if (st.code() == StatusCode::kAlreadyExists) {
          return AbortedError("revision " + std::to_string(number) + " of " +
                              CollectionName(account_id, collection_id) + " was appended concurrently");
        }
        COFFER_RETURN_IF_ERROR(st);
        return txn.Commit();
      });
}

StatusOr<std::vector<RevisionRecord>> PostgresMetaStore::GetRevisions(const std::string& account_id,
                                                                      const std::string& collection_id,
                                                                      uint64_t from, size_t limit, size_t max_bytes) {
  if (limit == 0 || from > kMaxOrdered) return std::vector<RevisionRecord>();
  return Run(
      "get revisions of " + CollectionName(account_id, collection_id),
      [&](Connection& conn) -> StatusOr<std::vector<RevisionRecord>> {
        Transaction txn(conn);
        COFFER_RETURN_IF_ERROR(txn.Begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));  // one snapshot
        // First decide how many fit using octet_length(), which PostgreSQL answers from the
        // value's header, so a large revision just past the byte budget is never sent.
        COFFER_ASSIGN_OR_RETURN(
            Result sizes,
            conn.Exec("SELECT number, octet_length(data) FROM revisions WHERE account_id = $1 AND collection_id = "
                      "$2 AND number >= $3 ORDER BY number LIMIT $4",
                      Params().Text(account_id).Text(collection_id).U64(from).Int(
                          static_cast<int64_t>(std::min<uint64_t>(limit, kMaxOrdered)))));
        uint64_t last = 0;
        size_t count = 0, total = 0;
        for (int i = 0; i < sizes.rows(); ++i) {
          const size_t size = static_cast<size_t>(std::max<int64_t>(sizes.Int(i, 1), 0));
          // At least one revision is returned even if it alone exceeds max_bytes, so a reader
          // always makes progress.
          if (count > 0 && (size > max_bytes || total > max_bytes - size)) break;
          total += size;
          last = sizes.U64(i, 0);
          ++count;
        }
        std::vector<RevisionRecord> out;
        if (count == 0) return out;
        COFFER_ASSIGN_OR_RETURN(
            Result r, conn.Exec("SELECT number, data FROM revisions WHERE account_id = $1 AND collection_id = $2 AND "
                                "number BETWEEN $3 AND $4 ORDER BY number",
                                Params().Text(account_id).Text(collection_id).U64(from).U64(last)));
        out.reserve(static_cast<size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) out.push_back(RevisionRecord{r.U64(i, 0), r.Blob(i, 1)});
        COFFER_RETURN_IF_ERROR(txn.Commit());
        return out;
      });
}

StatusOr<std::vector<CollectionHead>> PostgresMetaStore::ListCollections(const std::string& account_id) {
  return Run("list collections of account " + account_id,
             [&](Connection& conn) -> StatusOr<std::vector<CollectionHead>> {
               COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT collection_id, head FROM collections WHERE "
                                                           "account_id = $1 ORDER BY collection_id",
                                                           Params().Text(account_id)));
               std::vector<CollectionHead> out;
               out.reserve(static_cast<size_t>(r.rows()));
               for (int i = 0; i < r.rows(); ++i) out.push_back(CollectionHead{r.Text(i, 0), r.U64(i, 1)});
               return out;
             });
}

StatusOr<uint64_t> PostgresMetaStore::GetHead(const std::string& account_id, const std::string& collection_id) {
  return Run("get head of " + CollectionName(account_id, collection_id),
             [&](Connection& conn) -> StatusOr<uint64_t> { return LoadHead(conn, account_id, collection_id); });
}

Status PostgresMetaStore::PutCheckpoint(const std::string& account_id, const std::string& collection_id,
                                        uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckOrdered(number, "checkpoint number"));
  if (number == 0) {
    return InvalidArgumentError("checkpoint of " + CollectionName(account_id, collection_id) +
                                ": revision numbers start at 1");
  }
  return Run(
      "put checkpoint " + std::to_string(number) + " of " + CollectionName(account_id, collection_id),
      [&](Connection& conn) -> Status {
        Transaction txn(conn);
        COFFER_RETURN_IF_ERROR(txn.Begin());
        COFFER_ASSIGN_OR_RETURN(Usage usage, LockAccount(conn, account_id));
        COFFER_ASSIGN_OR_RETURN(uint64_t head, LoadHead(conn, account_id, collection_id));
        if (number > head) {
          return InvalidArgumentError("checkpoint " + std::to_string(number) + " of " +
                                      CollectionName(account_id, collection_id) + " is past its head " +
                                      std::to_string(head));
        }
        uint64_t old_size = 0;
        {
          COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT number, octet_length(data) FROM checkpoints WHERE "
                                                      "account_id = $1 AND collection_id = $2",
                                                      Params().Text(account_id).Text(collection_id)));
          if (r.rows() > 0) {
            // Newer replaces older, whatever the arrival order: an older checkpoint is accepted
            // and dropped. An equal number replaces (a retry or a re-encoding).
            if (number < r.U64(0, 0)) return OkStatus();
            old_size = static_cast<uint64_t>(std::max<int64_t>(r.Int(0, 1), 0));
          }
        }
        uint64_t used = usage.used_bytes;
        if (data.size() > old_size) {
          const uint64_t growth = data.size() - old_size;
          COFFER_RETURN_IF_ERROR(
              CheckQuota(usage.quota_bytes, used, growth, account_id, "checkpoint " + std::to_string(number)));
          used = SaturatingAdd(used, growth);
        } else {
          // Shrinking is always allowed, even over quota: it frees space.
          const uint64_t shrink = old_size - data.size();
          used = used > shrink ? used - shrink : 0;
        }
        COFFER_RETURN_IF_ERROR(
            conn.Exec("WITH charge AS (UPDATE accounts SET used_bytes = $5 WHERE account_id = $1) INSERT INTO "
                      "checkpoints (account_id, collection_id, number, data) VALUES ($1, $2, $3, $4) ON CONFLICT "
                      "(account_id, collection_id) DO UPDATE SET number = EXCLUDED.number, data = EXCLUDED.data",
                      Params().Text(account_id).Text(collection_id).U64(number).Blob(data).U64(used))
                .status());
        return txn.Commit();
      });
}

StatusOr<RevisionRecord> PostgresMetaStore::GetCheckpoint(const std::string& account_id,
                                                          const std::string& collection_id) {
  return Run("get checkpoint of " + CollectionName(account_id, collection_id),
             [&](Connection& conn) -> StatusOr<RevisionRecord> {
               COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT number, data FROM checkpoints WHERE account_id = "
                                                           "$1 AND collection_id = $2",
                                                           Params().Text(account_id).Text(collection_id)));
               if (r.rows() == 0) return NotFoundError("no checkpoint for " + CollectionName(account_id, collection_id));
               return RevisionRecord{r.U64(0, 0), r.Blob(0, 1)};
             });
}

// ---------------------------------------------------------------------------------------
// Chunk index

StatusOr<bool> PostgresMetaStore::AddChunk(const std::string& account_id, const ChunkRecord& chunk) {
  COFFER_ASSIGN_OR_RETURN(std::vector<bool> added, AddChunks(account_id, {chunk}));
  return static_cast<bool>(added.at(0));
}

StatusOr<std::vector<bool>> PostgresMetaStore::AddChunks(const std::string& account_id,
                                                         const std::vector<ChunkRecord>& chunks) {
  for (const ChunkRecord& chunk : chunks) {
    COFFER_RETURN_IF_ERROR(CheckOrdered(chunk.size, "chunk size"));
    COFFER_RETURN_IF_ERROR(CheckOrdered(chunk.pack_offset, "chunk pack offset"));
  }
  if (chunks.empty()) return std::vector<bool>();
  const std::string what = chunks.size() == 1 ? "add chunk " + chunks[0].chunk_id + " of account " + account_id
                                              : "add " + std::to_string(chunks.size()) + " chunks of account " + account_id;
  return Run(what, [&](Connection& conn) -> StatusOr<std::vector<bool>> {
    Transaction txn(conn);
    COFFER_RETURN_IF_ERROR(txn.Begin());
    COFFER_ASSIGN_OR_RETURN(Usage usage, LockAccount(conn, account_id));
    std::vector<std::string> ids;
    ids.reserve(chunks.size());
    for (const ChunkRecord& chunk : chunks) ids.push_back(chunk.chunk_id);
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT chunk_id FROM chunks WHERE account_id = $1 AND chunk_id = ANY ($2)",
                                                Params().Text(account_id).TextArray(ids)));
    std::unordered_set<std::string> present;
    for (int i = 0; i < r.rows(); ++i) present.insert(r.Text(i, 0));
    std::vector<bool> added;
    added.reserve(chunks.size());
    uint64_t used = usage.used_bytes;
    for (const ChunkRecord& chunk : chunks) {
      // Checked before the quota: re-adding a stored chunk changes nothing, so it succeeds
      // even when the account is full.
      if (!present.insert(chunk.chunk_id).second) {
        added.push_back(false);
        continue;
      }
      COFFER_RETURN_IF_ERROR(CheckQuota(usage.quota_bytes, used, chunk.size, account_id, "chunk " + chunk.chunk_id));
      COFFER_RETURN_IF_ERROR(conn.Exec("INSERT INTO chunks (account_id, chunk_id, size, sha256, created_at, pack_id, "
                                       "pack_offset) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                       Params()
                                           .Text(account_id)
                                           .Text(chunk.chunk_id)
                                           .U64(chunk.size)
                                           .Blob(chunk.sha256)
                                           .Int(chunk.created_at)
                                           .Text(chunk.pack_id)
                                           .U64(chunk.pack_offset))
                                 .status());
      used = SaturatingAdd(used, chunk.size);
      added.push_back(true);
    }
    if (used != usage.used_bytes) {
      COFFER_RETURN_IF_ERROR(conn.Exec("UPDATE accounts SET used_bytes = $2 WHERE account_id = $1",
                                       Params().Text(account_id).U64(used))
                                 .status());
    }
    COFFER_RETURN_IF_ERROR(txn.Commit());
    return added;
  });
}

StatusOr<ChunkRecord> PostgresMetaStore::GetChunk(const std::string& account_id, const std::string& chunk_id) {
  return Run("get chunk " + chunk_id + " of account " + account_id, [&](Connection& conn) -> StatusOr<ChunkRecord> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks WHERE "
                                                "account_id = $1 AND chunk_id = $2",
                                                Params().Text(account_id).Text(chunk_id)));
    if (r.rows() == 0) return NotFoundError("chunk " + chunk_id + " of account " + account_id + " not found");
    return ReadChunk(r, 0);
  });
}

StatusOr<std::vector<bool>> PostgresMetaStore::HaveChunks(const std::string& account_id,
                                                          const std::vector<std::string>& chunk_ids) {
  if (chunk_ids.empty()) return std::vector<bool>();
  return Run("look up chunks of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<bool>> {
    // One query (one snapshot, one round trip) for the whole batch.
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec("SELECT chunk_id FROM chunks WHERE account_id = $1 AND chunk_id = ANY ($2)",
                            Params().Text(account_id).TextArray(chunk_ids)));
    std::unordered_set<std::string> present;
    for (int i = 0; i < r.rows(); ++i) present.insert(r.Text(i, 0));
    std::vector<bool> out;
    out.reserve(chunk_ids.size());
    for (const std::string& id : chunk_ids) out.push_back(present.count(id) > 0);
    return out;
  });
}

Status PostgresMetaStore::ListChunks(const std::string& account_id,
                                     const std::function<bool(const ChunkRecord&)>& fn) {
  // Keyset paging on the primary key; a connection is held only while a page is read.
  std::optional<std::string> after;
  for (;;) {
    auto page = Run("list chunks of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<ChunkRecord>> {
      StatusOr<Result> r =
          after.has_value()
              ? conn.Exec("SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks WHERE account_id = $1 AND "
                          "chunk_id > $2 ORDER BY chunk_id LIMIT $3",
                          Params().Text(account_id).Text(*after).Int(kListChunksPage))
              : conn.Exec("SELECT chunk_id, size, sha256, created_at, pack_id, pack_offset FROM chunks WHERE account_id = $1 "
                          "ORDER BY chunk_id LIMIT $2",
                          Params().Text(account_id).Int(kListChunksPage));
      if (!r.ok()) return r.status();
      std::vector<ChunkRecord> out;
      out.reserve(static_cast<size_t>(r->rows()));
      for (int i = 0; i < r->rows(); ++i) out.push_back(ReadChunk(*r, i));
      return out;
    });
    if (!page.ok()) return page.status();
    for (const ChunkRecord& c : *page) {
      if (!fn(c)) return OkStatus();
    }
    if (page->size() < static_cast<size_t>(kListChunksPage)) return OkStatus();
    after = page->back().chunk_id;
  }
}

Status PostgresMetaStore::TouchChunks(const std::string& account_id, const std::vector<std::string>& chunk_ids,
                                      int64_t now) {
  if (chunk_ids.empty()) return OkStatus();
  return Run("touch chunks of account " + account_id, [&](Connection& conn) -> Status {
    return conn.Exec("UPDATE chunks SET created_at = $3 WHERE account_id = $1 AND chunk_id = ANY ($2) AND "
                     "created_at < $3",
                     Params().Text(account_id).TextArray(chunk_ids).Int(now))
        .status();
  });
}

Status PostgresMetaStore::DeleteChunk(const std::string& account_id, const std::string& chunk_id) {
  return Run("delete chunk " + chunk_id + " of account " + account_id, [&](Connection& conn) -> Status {
    Transaction txn(conn);
    COFFER_RETURN_IF_ERROR(txn.Begin());
    // The account lock first, as in AddChunk, so the two never wait for each other in
    // opposite orders.
    auto usage = LockAccount(conn, account_id);
    if (!usage.ok() && usage.status().code() == StatusCode::kNotFound) return OkStatus();  // nothing to delete
    if (!usage.ok()) return usage.status();
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("DELETE FROM chunks WHERE account_id = $1 AND chunk_id = $2 "
                                                "RETURNING size",
                                                Params().Text(account_id).Text(chunk_id)));
    if (r.rows() == 0) return OkStatus();  // already gone: idempotent
    const uint64_t size = r.U64(0, 0);
    COFFER_RETURN_IF_ERROR(
        StoreUsedBytes(conn, account_id, usage->used_bytes > size ? usage->used_bytes - size : 0));
    return txn.Commit();
  });
}

// ---------------------------------------------------------------------------------------
// Mailboxes

Status PostgresMetaStore::PutMessage(const std::string& account_id, const std::string& box, const std::string& key,
                                     ByteView data, int64_t expires_at) {
  // The only clock read in the store, because this form of the call carries no `now`.
  return PutMessageAt(account_id, box, key, data, expires_at, static_cast<int64_t>(std::time(nullptr)));
}

Status PostgresMetaStore::PutMessageAt(const std::string& account_id, const std::string& box,
                                       const std::string& key, ByteView data, int64_t expires_at, int64_t now) {
  return Run("put message " + box + "/" + key + " of account " + account_id, [&](Connection& conn) -> Status {
    // Inserts, or replaces an expired message of the same name; a live one is left alone
    // (the WHERE of DO UPDATE), which shows as zero affected rows. One atomic statement.
    auto r = conn.Exec("INSERT INTO messages (account_id, box, key, data, expires_at) VALUES ($1, $2, $3, $4, $5) "
                       "ON CONFLICT (account_id, box, key) DO UPDATE SET data = EXCLUDED.data, expires_at = "
                       "EXCLUDED.expires_at WHERE messages.expires_at <= $6",
                       Params().Text(account_id).Text(box).Text(key).Blob(data).Int(expires_at).Int(now));
    if (!r.ok() && r.status().code() == StatusCode::kNotFound) {
      return NotFoundError("account " + account_id + " not found");
    }
    if (!r.ok()) return r.status();
    if (r->affected() == 0) {
      return AlreadyExistsError("message " + box + "/" + key + " of account " + account_id + " already exists");
    }
    return OkStatus();
  });
}

StatusOr<Bytes> PostgresMetaStore::GetMessage(const std::string& account_id, const std::string& box,
                                              const std::string& key, int64_t now) {
  return Run("get message " + box + "/" + key + " of account " + account_id, [&](Connection& conn) -> StatusOr<Bytes> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT data FROM messages WHERE account_id = $1 AND box = $2 AND "
                                                "key = $3 AND expires_at > $4",
                                                Params().Text(account_id).Text(box).Text(key).Int(now)));
    if (r.rows() == 0) return NotFoundError("message " + box + "/" + key + " of account " + account_id + " not found");
    return r.Blob(0, 0);
  });
}

Status PostgresMetaStore::DeleteExpiredMessages(int64_t now) {
  return Run("delete expired messages", [&](Connection& conn) -> Status {
    return conn.Exec("DELETE FROM messages WHERE expires_at <= $1", Params().Int(now)).status();
  });
}

// ---------------------------------------------------------------------------------------
// Settings

StatusOr<Bytes> PostgresMetaStore::GetSetting(const std::string& name) {
  return Run("get setting " + name, [&](Connection& conn) -> StatusOr<Bytes> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT value FROM settings WHERE name = $1", Params().Text(name)));
    if (r.rows() == 0) return NotFoundError("setting " + name + " not found");
    return r.Blob(0, 0);
  });
}

Status PostgresMetaStore::PutSetting(const std::string& name, ByteView value) {
  return Run("put setting " + name, [&](Connection& conn) -> Status {
    return conn.Exec("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = "
                     "EXCLUDED.value",
                     Params().Text(name).Blob(value))
        .status();
  });
}

// ---------------------------------------------------------------------------------------
// Enumeration, for migration

StatusOr<std::vector<std::string>> PostgresMetaStore::ListAccountIds(const std::string& after, size_t limit) {
  if (limit == 0) return std::vector<std::string>();
  return Run("list accounts", [&](Connection& conn) -> StatusOr<std::vector<std::string>> {
    COFFER_ASSIGN_OR_RETURN(
        Result r, conn.Exec("SELECT account_id FROM accounts WHERE account_id > $1 ORDER BY account_id LIMIT $2",
                            Params().Text(after).Int(static_cast<int64_t>(std::min<uint64_t>(limit, kMaxOrdered)))));
    std::vector<std::string> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
    return out;
  });
}

StatusOr<std::vector<std::string>> PostgresMetaStore::ListSettingNames() {
  return Run("list settings", [&](Connection& conn) -> StatusOr<std::vector<std::string>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT name FROM settings ORDER BY name"));
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
    return out;
  });
}

StatusOr<std::vector<MetaStore::SealedKeyEntry>> PostgresMetaStore::ListSealedKeys(const std::string& account_id) {
  return Run("list sealed keys of account " + account_id, [&](Connection& conn) -> StatusOr<std::vector<SealedKeyEntry>> {
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT device_id, epoch, blob FROM sealed_keys WHERE account_id = $1 "
                                                "ORDER BY device_id",
                                                Params().Text(account_id)));
    std::vector<SealedKeyEntry> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(SealedKeyEntry{r.Text(i, 0), r.U64(i, 1), r.Blob(i, 2)});
    return out;
  });
}

}  // namespace coffer::store
