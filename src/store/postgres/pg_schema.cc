#include "store/postgres/pg_schema.h"

#include <iterator>
#include <string>

namespace coffer::store::pg {
namespace {

struct Migration {
  int64_t version;
  const char* description;
  const char* sql;
};

// Conventions (as in the SQLite schema, so both engines hold the same data): ids and emails
// are text in the "C" collation (bytewise order and equality, like SQLite's); opaque client
// data is bytea; unsigned 64-bit values are stored as the bigint with the same bits; times
// are unix seconds. Every table that belongs to an account references accounts, so rows can
// never outlive or precede their account. Each lookup the store makes is served by a primary
// key or the index named after it (postgres_meta_store_test checks the plans).
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE accounts (
  account_id    text COLLATE "C" NOT NULL PRIMARY KEY,
  email         text COLLATE "C" NOT NULL UNIQUE,   -- GetAccountByEmail
  created_at    bigint  NOT NULL,
  login_hash    text    NOT NULL,
  login_salt    bytea   NOT NULL,
  kdf_ops       bigint  NOT NULL,
  kdf_mem       bigint  NOT NULL,
  recovery_hash text    NOT NULL,
  recovery_blob bytea   NOT NULL,
  quota_bytes   bigint  NOT NULL,                   -- 0 = unlimited
  used_bytes    bigint  NOT NULL,                   -- chunks + revisions + checkpoints
  locked        boolean NOT NULL,
  last_activity bigint  NOT NULL
);

-- One row per failed login; counted over a sliding window, cleared on success.
CREATE TABLE login_failures (
  key text   COLLATE "C" NOT NULL,
  at  bigint NOT NULL
);
CREATE INDEX login_failures_by_key_at ON login_failures (key, at);

CREATE TABLE sessions (
  token_hash bytea   NOT NULL PRIMARY KEY,
  account_id text    COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  device_id  text    COLLATE "C" NOT NULL,          -- not a foreign key: recovery sessions
  kind       integer NOT NULL,                      -- SessionKind
  created_at bigint  NOT NULL,
  expires_at bigint  NOT NULL
);
CREATE INDEX sessions_by_device ON sessions (account_id, device_id);

CREATE TABLE devices (
  account_id      text    COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  device_id       text    COLLATE "C" NOT NULL,
  sign_public_key bytea   NOT NULL,
  box_public_key  bytea   NOT NULL,
  name            text    NOT NULL,
  status          integer NOT NULL,                 -- DeviceStatus
  created_at      bigint  NOT NULL,
  PRIMARY KEY (account_id, device_id)
);

CREATE TABLE chain_entries (
  account_id text   COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  seq        bigint NOT NULL,                       -- 0, 1, 2, ... without gaps
  entry      bytea  NOT NULL,
  PRIMARY KEY (account_id, seq)
);

CREATE TABLE sealed_keys (
  account_id text   COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  device_id  text   COLLATE "C" NOT NULL,
  epoch      bigint NOT NULL,
  blob       bytea  NOT NULL,
  PRIMARY KEY (account_id, device_id)
);

CREATE TABLE keyrings (
  account_id text   COLLATE "C" NOT NULL PRIMARY KEY REFERENCES accounts (account_id),
  version    bigint NOT NULL,
  blob       bytea  NOT NULL
);

CREATE TABLE collections (
  account_id    text   COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  collection_id text   COLLATE "C" NOT NULL,
  head          bigint NOT NULL,                    -- number of the newest revision
  PRIMARY KEY (account_id, collection_id)
);

CREATE TABLE revisions (
  account_id    text   COLLATE "C" NOT NULL,
  collection_id text   COLLATE "C" NOT NULL,
  number        bigint NOT NULL,                    -- 1, 2, ... without gaps
  data          bytea  NOT NULL,
  PRIMARY KEY (account_id, collection_id, number),
  FOREIGN KEY (account_id, collection_id) REFERENCES collections (account_id, collection_id)
);

CREATE TABLE checkpoints (
  account_id    text   COLLATE "C" NOT NULL,
  collection_id text   COLLATE "C" NOT NULL,
  number        bigint NOT NULL,
  data          bytea  NOT NULL,
  PRIMARY KEY (account_id, collection_id),
  FOREIGN KEY (account_id, collection_id) REFERENCES collections (account_id, collection_id)
);

CREATE TABLE chunks (
  account_id text   COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  chunk_id   text   COLLATE "C" NOT NULL,
  size       bigint NOT NULL,
  sha256     bytea  NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (account_id, chunk_id)                -- also serves ListChunks' keyset paging
);

CREATE TABLE messages (
  account_id text   COLLATE "C" NOT NULL REFERENCES accounts (account_id),
  box        text   COLLATE "C" NOT NULL,
  key        text   COLLATE "C" NOT NULL,
  data       bytea  NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (account_id, box, key)
);
CREATE INDEX messages_by_expiry ON messages (expires_at);  -- DeleteExpiredMessages

CREATE TABLE settings (
  name  text  COLLATE "C" NOT NULL PRIMARY KEY,
  value bytea NOT NULL
);
)sql"},
    // Chunks uploaded together share one pack blob; '' = a blob of its own.
    {2, "chunk packs", R"sql(
ALTER TABLE chunks ADD COLUMN pack_id     text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE chunks ADD COLUMN pack_offset bigint NOT NULL DEFAULT 0;
)sql"},
};

}  // namespace

int64_t LatestSchemaVersion() { return std::end(kMigrations)[-1].version; }

Status MigrateSchema(Connection& conn, const std::string& schema) {
  const std::string where = schema.empty() ? "the default schema" : "schema " + schema;
  const std::string what = "migrate the PostgreSQL metadata schema (" + where + ")";
  // Session-level, so it spans the per-migration transactions; released below, or by the
  // server if this connection dies.
  const std::string lock_key = "coffer-meta-migrations:" + schema;
  COFFER_RETURN_IF_ERROR(conn.Exec("SELECT pg_advisory_lock(hashtextextended($1, 0))", Params().Text(lock_key))
                             .status()
                             .WithContext(what));
  auto migrate = [&]() -> Status {
    if (!schema.empty()) {
      // Validated by ParseConnectionUrl ([a-z_][a-z0-9_]*), so quoting is enough.
      COFFER_RETURN_IF_ERROR(conn.ExecScript("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\""));
    }
    COFFER_RETURN_IF_ERROR(conn.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, "
        "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
    COFFER_ASSIGN_OR_RETURN(Result r, conn.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    const int64_t current = r.Int(0, 0);
    if (current > LatestSchemaVersion()) {
      return FailedPreconditionError("the PostgreSQL metadata database (" + where + ") has schema version " +
                                     std::to_string(current) + ", newer than the " +
                                     std::to_string(LatestSchemaVersion()) +
                                     " this server supports; upgrade the server");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      Transaction txn(conn);
      COFFER_RETURN_IF_ERROR(txn.Begin());
      COFFER_RETURN_IF_ERROR(conn.ExecScript(m.sql).WithContext("migration " + std::to_string(m.version)));
      COFFER_RETURN_IF_ERROR(
          conn.Exec("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
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

}  // namespace coffer::store::pg
