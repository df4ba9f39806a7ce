#include "aggregator/postgres_schema.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator {
namespace {

// Schema migrations: kMigrations[v] takes a database from version v to v+1.
// To change the schema, append a step and bump kPostgresSchemaVersion; never
// edit a step that has shipped. The history tables mirror SqliteStore's at its
// version 3 (sqlite_store.cc says what each column means).
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE intervals (
      id bigint PRIMARY KEY,
      address text NOT NULL,
      owner bytea NOT NULL,
      reporter text NOT NULL,
      source integer NOT NULL,
      since_us bigint NOT NULL,
      until_us bigint,
      scope_node text NOT NULL DEFAULT '',
      close_reason integer NOT NULL DEFAULT 0
    );
    CREATE INDEX intervals_by_until ON intervals (until_us)
      WHERE until_us IS NOT NULL;
    CREATE INDEX intervals_by_address ON intervals (address, scope_node);
    CREATE TABLE agent_seqs (
      node text NOT NULL,
      agent_instance text NOT NULL,
      seq bigint NOT NULL,
      updated_us bigint NOT NULL,
      PRIMARY KEY (node, agent_instance)
    );
    CREATE TABLE findings (
      id text PRIMARY KEY,
      node text NOT NULL,
      status integer NOT NULL,
      updated_us bigint NOT NULL,
      finding bytea NOT NULL,
      memory bytea NOT NULL
    );
    )sql",
    // 1 -> 2: alert delivery state and remediation records (issue 12),
    // shared by every replica: what SqliteDeliveryStore and
    // SqliteRecordStore keep in their files (delivery_store.cc and
    // record_store.cc say what each column means), with the claims of
    // DeliveryStore::Claim and the decision chain of
    // RecordStore::AddDecision.
    R"sql(
    CREATE TABLE delivery_outbox (
      id bigserial PRIMARY KEY,
      sink text NOT NULL,
      finding_id text NOT NULL,
      episode bigint NOT NULL,
      event text NOT NULL,
      finding bytea NOT NULL,
      state text NOT NULL
        CHECK (state IN ('pending', 'delivered', 'abandoned')),
      attempts integer NOT NULL DEFAULT 0,
      created_us bigint NOT NULL,
      next_attempt_us bigint NOT NULL,
      finished_us bigint,
      last_error text,
      claimed_by text,
      claimed_until_us bigint,
      UNIQUE (sink, finding_id, episode, event)
    );
    CREATE INDEX delivery_outbox_pending
      ON delivery_outbox (sink, finding_id, id) WHERE state = 'pending';
    CREATE INDEX delivery_outbox_finished
      ON delivery_outbox (finished_us) WHERE state <> 'pending';
    CREATE TABLE remediations (
      seq bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      finding_id text NOT NULL,
      node text NOT NULL,
      decided_us bigint NOT NULL,
      episode_us bigint NOT NULL,
      awaiting integer NOT NULL,
      dry_run_order integer NOT NULL,
      answered integer NOT NULL DEFAULT 0,
      decision_key text UNIQUE,
      record bytea NOT NULL
    );
    CREATE INDEX remediations_finding ON remediations (finding_id, seq);
    CREATE INDEX remediations_node ON remediations (node);
    CREATE INDEX remediations_awaiting ON remediations (seq)
      WHERE awaiting <> 0;
    )sql",
    // 2 -> 3: aggregator replicas sharing the database (issue 12). Every
    // history write stamps the rows it changes with one value of
    // history_changes, drawn under a cluster-wide advisory lock, so stamp
    // order is commit order and a replica reads what others committed
    // since its cursor with no gap (postgres_store.cc); findings likewise
    // with finding_changes. node_presence says which replica serves each
    // node's agent stream and when the node was last heard of there.
    R"sql(
    CREATE SEQUENCE history_changes;
    ALTER TABLE intervals ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
    CREATE INDEX intervals_by_change ON intervals (change_seq);
    ALTER TABLE agent_seqs ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
    CREATE INDEX agent_seqs_by_change ON agent_seqs (change_seq);
    CREATE SEQUENCE finding_changes;
    ALTER TABLE findings ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
    CREATE INDEX findings_by_change ON findings (change_seq);
    CREATE TABLE node_presence (
      node text PRIMARY KEY,
      replica text NOT NULL,
      connected integer NOT NULL,
      last_contact_us bigint NOT NULL,
      last_report_us bigint,
      updated_us bigint NOT NULL
    );
    )sql",
    // 3 -> 4: how an interval's end became known (EndEvidence: 0 unknown,
    // 1 absence, 2 departure), so that a replica merging another's close
    // trusts a reported departure as the replica that saw it does
    // (detector.h rule 6) instead of waiting one more snapshot.
    R"sql(
    ALTER TABLE intervals ADD COLUMN ended_by integer NOT NULL DEFAULT 0;
    )sql",
    // 4 -> 5: where each replica answers other replicas' questions (its
    // peer address), and when it last said so, in microseconds of the
    // database's clock (replicas' clocks may disagree; the database's is one):
    // ListSockets fan-out (replica_directory.h).
    R"sql(
    CREATE TABLE replicas (
      name text PRIMARY KEY,
      peer_address text NOT NULL,
      heard_us bigint NOT NULL
    );
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              kPostgresSchemaVersion);

// pg_advisory_xact_lock key held while migrating: "ghostpee" in ASCII, so a
// DBA listing pg_locks can tell whose it is.
constexpr int64_t kMigrationLockKey = 0x67686f7374706565;

}  // namespace

absl::StatusOr<absl::Time> MigratePostgresSchema(PostgresConnection& conn,
                                                 absl::Time now) {
  int found = 0;
  GHOSTPEER_RETURN_IF_ERROR(
      conn.InTransaction("migrate schema", "BEGIN", [&]() {
        // Two aggregators starting on one new database: the second waits
        // here until the first committed, then finds the schema current.
        GHOSTPEER_RETURN_IF_ERROR(conn.Run("SELECT pg_advisory_xact_lock($1)",
                                           PgParams().Int8(kMigrationLockKey))
                                      .status());
        GHOSTPEER_RETURN_IF_ERROR(
            conn.Exec("CREATE TABLE IF NOT EXISTS schema_version "
                      "(version integer NOT NULL)"));
        GHOSTPEER_ASSIGN_OR_RETURN(
            PgResult version,
            conn.Run("SELECT COALESCE(MAX(version), 0) FROM schema_version",
                     PgParams(), /*binary_result=*/true));
        if (version.rows() != 1 || !version.Int(0, 0).has_value()) {
          return conn.Error(absl::StatusCode::kDataLoss, "read schema version",
                            "no answer");
        }
        found = static_cast<int>(*version.Int(0, 0));
        if (found > kPostgresSchemaVersion) {
          return absl::FailedPreconditionError(absl::StrCat(
              "postgresql ", conn.name(), " has schema version ", found,
              ", newer than this ghostpeer-aggregator understands (",
              kPostgresSchemaVersion, "); use a newer build or another --db"));
        }
        for (int step = found; step < kPostgresSchemaVersion; ++step) {
          GHOSTPEER_RETURN_IF_ERROR(conn.Exec(kMigrations[step]));
          GHOSTPEER_RETURN_IF_ERROR(conn.Exec("DELETE FROM schema_version"));
          GHOSTPEER_RETURN_IF_ERROR(
              conn.Run("INSERT INTO schema_version VALUES ($1::bigint)",
                       PgParams().Int8(step + 1))
                  .status());
          if (step == 0) {
            GHOSTPEER_RETURN_IF_ERROR(
                conn.Run("INSERT INTO meta VALUES ('created_us', $1)",
                         PgParams().Text(absl::StrCat(PgMicros(now))))
                    .status());
          }
        }
        return absl::OkStatus();
      }));
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult meta, conn.Run("SELECT value FROM meta WHERE key = 'created_us'",
                              PgParams(), /*binary_result=*/true));
  int64_t created_us = 0;
  if (meta.rows() != 1 || !absl::SimpleAtoi(meta.Bytes(0, 0), &created_us)) {
    return absl::DataLossError(
        absl::StrCat("postgresql ", conn.name(), ": meta.created_us missing"));
  }
  return PgFromMicros(created_us);
}

}  // namespace ghostpeer::aggregator
