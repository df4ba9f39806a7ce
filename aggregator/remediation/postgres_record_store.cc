#include "aggregator/remediation/postgres_record_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "aggregator/postgres_schema.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::remediation {
namespace {

constexpr const char* kColumns =
    "record, episode_us, awaiting, dry_run_order FROM remediations";

// The columns Put and AddDecision write, $1..$9, from `stored`.
PgParams RecordParams(const StoredRemediation& stored,
                      const std::string& blob) {
  const v1::Remediation& record = stored.record;
  PgParams params;
  params.Text(record.id())
      .Text(record.finding_id())
      .Text(record.node())
      .Int8(PgMicros(FromProto(record.decided_at())))
      .Int8(stored.episode_us)
      .Int8(stored.awaiting ? 1 : 0)
      .Int8(stored.dry_run_order ? 1 : 0)
      .Int8(record.has_outcome() ? 1 : 0)
      .Bytea(blob);
  return params;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresRecordStore>> PostgresRecordStore::Open(
    const std::string& uri, absl::Time now) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<PostgresConnection> conn,
      PostgresConnection::Open(uri, "ghostpeer-aggregator remediation"));
  GHOSTPEER_RETURN_IF_ERROR(MigratePostgresSchema(*conn, now).status());
  return std::unique_ptr<PostgresRecordStore>(
      new PostgresRecordStore(std::move(conn)));
}

PostgresRecordStore::PostgresRecordStore(
    std::unique_ptr<PostgresConnection> conn)
    : conn_(std::move(conn)) {}

PostgresRecordStore::~PostgresRecordStore() = default;

absl::StatusOr<PgResult> PostgresRecordStore::Run(const char* what,
                                                  const char* sql,
                                                  const PgParams& params) {
  return conn_->RunAlone(absl::StrCat("remediation store: ", what), sql,
                         params);
}

absl::StatusOr<std::vector<StoredRemediation>> PostgresRecordStore::Select(
    const char* what, const std::string& sql, const PgParams& params) {
  GHOSTPEER_ASSIGN_OR_RETURN(PgResult rows, Run(what, sql.c_str(), params));
  std::vector<StoredRemediation> out;
  out.reserve(rows.rows());
  for (int row = 0; row < rows.rows(); ++row) {
    StoredRemediation& stored = out.emplace_back();
    const std::optional<int64_t> episode = rows.Int(row, 1);
    const std::optional<int64_t> awaiting = rows.Int(row, 2);
    const std::optional<int64_t> dry_run = rows.Int(row, 3);
    if (!episode || !awaiting || !dry_run ||
        !stored.record.ParseFromString(std::string(rows.Bytes(row, 0)))) {
      return absl::DataLossError(absl::StrCat(
          "remediation store ", conn_->name(), ": a record does not parse"));
    }
    stored.episode_us = *episode;
    stored.awaiting = *awaiting != 0;
    stored.dry_run_order = *dry_run != 0;
  }
  return out;
}

absl::StatusOr<std::optional<StoredRemediation>>
PostgresRecordStore::AddDecision(const StoredRemediation& stored,
                                 const std::string& previous_id) {
  std::string blob;
  if (!stored.record.SerializeToString(&blob)) {
    return absl::InternalError("remediation record does not serialize");
  }
  const std::string& finding_id = stored.record.finding_id();
  absl::MutexLock lock(&mu_);
  // Two replicas deciding from the same record at once: the unique key
  // admits the first to commit; the other waits for it on the key's index
  // entry, then inserts nothing and reads what won below. A taken record
  // id is another constraint, and an error.
  PgParams params = RecordParams(stored, blob);
  params.Text(DecisionKey(finding_id, previous_id));
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult added,
      Run("add decision",
          "INSERT INTO remediations (id, finding_id, node, decided_us, "
          "episode_us, awaiting, dry_run_order, answered, record, "
          "decision_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
          "ON CONFLICT (decision_key) DO NOTHING RETURNING seq",
          params));
  if (added.rows() > 0) return std::nullopt;
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::vector<StoredRemediation> newest,
      Select("read the newest decision",
             absl::StrCat("SELECT ", kColumns,
                          " WHERE finding_id = $1 ORDER BY seq DESC LIMIT 1"),
             PgParams().Text(finding_id)));
  if (newest.empty()) {
    // The decision it lost to was purged in between: rare; judge again.
    return absl::AbortedError(absl::StrCat("remediation store ", conn_->name(),
                                           ": decision raced a purge"));
  }
  return std::move(newest.front());
}

absl::Status PostgresRecordStore::Put(const StoredRemediation& stored) {
  std::string blob;
  if (!stored.record.SerializeToString(&blob)) {
    return absl::InternalError("remediation record does not serialize");
  }
  absl::MutexLock lock(&mu_);
  return Run("put",
             "INSERT INTO remediations (id, finding_id, node, decided_us, "
             "episode_us, awaiting, dry_run_order, answered, record) VALUES "
             "($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE "
             "SET finding_id = excluded.finding_id, node = excluded.node, "
             "decided_us = excluded.decided_us, episode_us = "
             "excluded.episode_us, awaiting = excluded.awaiting, "
             "dry_run_order = excluded.dry_run_order, answered = "
             "excluded.answered, record = excluded.record WHERE "
             "remediations.answered = 0 OR excluded.answered = 1",
             RecordParams(stored, blob))
      .status();
}

absl::StatusOr<std::optional<StoredRemediation>> PostgresRecordStore::Get(
    const std::string& id) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::vector<StoredRemediation> found,
      Select("get", absl::StrCat("SELECT ", kColumns, " WHERE id = $1"),
             PgParams().Text(id)));
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

absl::StatusOr<std::vector<StoredRemediation>> PostgresRecordStore::List(
    const std::string& finding_id, const std::string& node, size_t limit) {
  absl::MutexLock lock(&mu_);
  return Select(
      "list",
      absl::StrCat("SELECT ", kColumns,
                   " WHERE ($1 = '' OR finding_id = $1) AND ($2 = '' OR "
                   "node = $2) ORDER BY decided_us DESC, seq DESC LIMIT $3"),
      PgParams().Text(finding_id).Text(node).Int8(static_cast<int64_t>(limit)));
}

absl::StatusOr<std::vector<StoredRemediation>> PostgresRecordStore::Awaiting() {
  absl::MutexLock lock(&mu_);
  return Select(
      "awaiting",
      absl::StrCat("SELECT ", kColumns, " WHERE awaiting <> 0 ORDER BY seq"),
      PgParams());
}

absl::StatusOr<std::vector<StoredRemediation>>
PostgresRecordStore::LatestPerFinding() {
  absl::MutexLock lock(&mu_);
  return Select("latest per finding",
                absl::StrCat("SELECT ", kColumns,
                             " WHERE seq IN (SELECT MAX(seq) FROM "
                             "remediations GROUP BY finding_id) ORDER BY seq"),
                PgParams());
}

absl::StatusOr<int64_t> PostgresRecordStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult purged,
      Run("purge",
          "WITH gone AS (DELETE FROM remediations WHERE decided_us < $1 AND "
          "awaiting = 0 RETURNING 1) SELECT COUNT(*) FROM gone",
          PgParams().Int8(PgMicros(horizon))));
  return purged.rows() == 1 ? purged.Int(0, 0).value_or(0) : 0;
}

}  // namespace ghostpeer::aggregator::remediation
