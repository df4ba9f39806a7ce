// The schema of the PostgreSQL database an aggregator's --db names: every
// table any part of the aggregator keeps there (history, alert delivery,
// remediation records), in one numbered list of migrations, so that
// several aggregators and several builds agree on one version number.
#ifndef GHOSTPEER_AGGREGATOR_POSTGRES_SCHEMA_H_
#define GHOSTPEER_AGGREGATOR_POSTGRES_SCHEMA_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/postgres_connection.h"

namespace ghostpeer::aggregator {

// The newest PostgreSQL schema this build writes (its own numbering, apart
// from SQLite's kSchemaVersion).
inline constexpr int kPostgresSchemaVersion = 5;

// Creates or migrates the schema up to kPostgresSchemaVersion in one
// transaction under a transaction-scoped advisory lock, so two aggregators
// (or two parts of one) starting at once migrate one after the other; a
// database already current is left alone. `now` stamps a new database's
// creation. Returns when the database was created (meta.created_us).
// FailedPrecondition for a schema newer than this build; DataLoss when the
// creation stamp is missing or unreadable; the connection's errors.
absl::StatusOr<absl::Time> MigratePostgresSchema(PostgresConnection& conn,
                                                 absl::Time now);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_POSTGRES_SCHEMA_H_
