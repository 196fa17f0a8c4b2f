// The SQLite metadata schema and its versioned migrations.
//
// The table schema_version holds one row per applied migration. Open applies, in one
// BEGIN IMMEDIATE transaction, every migration newer than the newest row, so a crash mid-way
// leaves the previous version intact and two processes opening the same file at once apply
// each migration exactly once. A database written by a newer server (a version this binary
// does not know) is refused rather than modified.
//
// To change the schema, append a migration to kMigrations in sqlite_schema.cc; never edit
// one that has shipped.
#ifndef COFFER_STORE_SQLITE_SQLITE_SCHEMA_H_
#define COFFER_STORE_SQLITE_SQLITE_SCHEMA_H_

#include <cstdint>

#include "coffer/status.h"
#include "store/sqlite/sqlite_db.h"

namespace coffer::store::sqlite {

// The schema version this binary creates and understands.
int64_t LatestSchemaVersion();

// Brings the database to LatestSchemaVersion(). kFailedPrecondition if the database is newer.
Status MigrateSchema(Db& db);

}  // namespace coffer::store::sqlite

#endif  // COFFER_STORE_SQLITE_SQLITE_SCHEMA_H_
