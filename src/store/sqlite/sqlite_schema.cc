#include "store/sqlite/sqlite_schema.h"

#include <iterator>
#include <string>

namespace coffer::store::sqlite {
namespace {

struct Migration {
  int64_t version;
  const char* sql;
};

// Conventions: ids and emails are TEXT; opaque client data is BLOB; unsigned 64-bit values
// are stored as the int64 with the same bits (see Stmt::BindU64); times are unix seconds.
// Every table that belongs to an account references accounts(account_id), so rows can never
// outlive or precede their account. Each lookup the store makes is served by a primary key
// or the index named after it.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE accounts (
  account_id    TEXT    NOT NULL PRIMARY KEY,
  email         TEXT    NOT NULL UNIQUE,          -- GetAccountByEmail
  created_at    INTEGER NOT NULL,
  login_hash    TEXT    NOT NULL,
  login_salt    BLOB    NOT NULL,
  kdf_ops       INTEGER NOT NULL,
  kdf_mem       INTEGER NOT NULL,
  recovery_hash TEXT    NOT NULL,
  recovery_blob BLOB    NOT NULL,
  quota_bytes   INTEGER NOT NULL,                 -- 0 = unlimited
  used_bytes    INTEGER NOT NULL,                 -- chunks + revisions + checkpoints
  locked        INTEGER NOT NULL,
  last_activity INTEGER NOT NULL
);

-- One row per failed login; counted over a sliding window, cleared on success.
CREATE TABLE login_failures (
  key TEXT    NOT NULL,
  at  INTEGER NOT NULL
);
CREATE INDEX login_failures_by_key_at ON login_failures (key, at);

CREATE TABLE sessions (
  token_hash BLOB    NOT NULL PRIMARY KEY,
  account_id TEXT    NOT NULL REFERENCES accounts (account_id),
  device_id  TEXT    NOT NULL,                    -- not a foreign key: recovery sessions
  kind       INTEGER NOT NULL,                    -- SessionKind
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_device ON sessions (account_id, device_id);

CREATE TABLE devices (
  account_id      TEXT    NOT NULL REFERENCES accounts (account_id),
  device_id       TEXT    NOT NULL,
  sign_public_key BLOB    NOT NULL,
  box_public_key  BLOB    NOT NULL,
  name            TEXT    NOT NULL,
  status          INTEGER NOT NULL,               -- DeviceStatus
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (account_id, device_id)
);

CREATE TABLE chain_entries (
  account_id TEXT    NOT NULL REFERENCES accounts (account_id),
  seq        INTEGER NOT NULL,                    -- 0, 1, 2, ... without gaps
  entry      BLOB    NOT NULL,
  PRIMARY KEY (account_id, seq)
);

CREATE TABLE sealed_keys (
  account_id TEXT    NOT NULL REFERENCES accounts (account_id),
  device_id  TEXT    NOT NULL,
  epoch      INTEGER NOT NULL,
  blob       BLOB    NOT NULL,
  PRIMARY KEY (account_id, device_id)
);

CREATE TABLE keyrings (
  account_id TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (account_id),
  version    INTEGER NOT NULL,
  blob       BLOB    NOT NULL
);

CREATE TABLE collections (
  account_id    TEXT    NOT NULL REFERENCES accounts (account_id),
  collection_id TEXT    NOT NULL,
  head          INTEGER NOT NULL,                 -- number of the newest revision
  PRIMARY KEY (account_id, collection_id)
);

CREATE TABLE revisions (
  account_id    TEXT    NOT NULL,
  collection_id TEXT    NOT NULL,
  number        INTEGER NOT NULL,                 -- 1, 2, ... without gaps
  data          BLOB    NOT NULL,
  PRIMARY KEY (account_id, collection_id, number),
  FOREIGN KEY (account_id, collection_id) REFERENCES collections (account_id, collection_id)
);

CREATE TABLE checkpoints (
  account_id    TEXT    NOT NULL,
  collection_id TEXT    NOT NULL,
  number        INTEGER NOT NULL,
  data          BLOB    NOT NULL,
  PRIMARY KEY (account_id, collection_id),
  FOREIGN KEY (account_id, collection_id) REFERENCES collections (account_id, collection_id)
);

CREATE TABLE chunks (
  account_id TEXT    NOT NULL REFERENCES accounts (account_id),
  chunk_id   TEXT    NOT NULL,
  size       INTEGER NOT NULL,
  sha256     BLOB    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, chunk_id)              -- also serves ListChunks' keyset paging
);

CREATE TABLE messages (
  account_id TEXT    NOT NULL REFERENCES accounts (account_id),
  box        TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  data       BLOB    NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, box, key)
);
CREATE INDEX messages_by_expiry ON messages (expires_at);  -- DeleteExpiredMessages

CREATE TABLE settings (
  name  TEXT NOT NULL PRIMARY KEY,
  value BLOB NOT NULL
);
)sql"},
    // Chunks uploaded together share one pack blob (issue 3: one fsync and one index
    // transaction per pack instead of per chunk). '' = the chunk has a blob of its own.
    {2, R"sql(
ALTER TABLE chunks ADD COLUMN pack_id     TEXT    NOT NULL DEFAULT '';
ALTER TABLE chunks ADD COLUMN pack_offset INTEGER NOT NULL DEFAULT 0;
)sql"},
};

}  // namespace

int64_t LatestSchemaVersion() { return std::end(kMigrations)[-1].version; }

Status MigrateSchema(Db& db) {
  Transaction txn(&db);
  COFFER_RETURN_IF_ERROR(txn.BeginImmediate().WithContext("migrate schema of " + db.path()));
  COFFER_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY)")
          .WithContext("migrate schema of " + db.path()));
  int64_t current = 0;
  {
    COFFER_ASSIGN_OR_RETURN(Stmt q, db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
    COFFER_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) current = q.ColumnInt(0);
  }
  if (current > LatestSchemaVersion()) {
    return FailedPreconditionError("metadata database " + db.path() + " has schema version " +
                                   std::to_string(current) + ", newer than the " +
                                   std::to_string(LatestSchemaVersion()) +
                                   " this server supports; upgrade the server");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    const std::string what = "apply schema migration " + std::to_string(m.version) + " to " + db.path();
    COFFER_RETURN_IF_ERROR(db.Exec(m.sql).WithContext(what));
    COFFER_ASSIGN_OR_RETURN(Stmt ins, db.Prepare("INSERT INTO schema_version (version) VALUES (?)"));
    COFFER_RETURN_IF_ERROR(ins.Bind(1, m.version).Run().WithContext(what));
  }
  return txn.Commit().WithContext("migrate schema of " + db.path());
}

}  // namespace coffer::store::sqlite
