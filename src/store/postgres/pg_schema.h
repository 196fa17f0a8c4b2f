// Schema migrations of the PostgreSQL metadata store, versioned in the repository.
#ifndef COFFER_STORE_POSTGRES_PG_SCHEMA_H_
#define COFFER_STORE_POSTGRES_PG_SCHEMA_H_

#include <cstdint>
#include <string>

#include "coffer/status.h"
#include "store/postgres/pg_conn.h"

namespace coffer::store::pg {

int64_t LatestSchemaVersion();

// Creates `schema` if given and not there, then applies every pending migration, each in its
// own transaction and recorded in schema_migrations. The whole step holds a session advisory
// lock keyed by the schema name, so servers starting at once apply each migration exactly
// once (the others wait, then find nothing to do). kFailedPrecondition if the database has a
// newer schema than this server knows.
Status MigrateSchema(Connection& conn, const std::string& schema);

}  // namespace coffer::store::pg

#endif  // COFFER_STORE_POSTGRES_PG_SCHEMA_H_
