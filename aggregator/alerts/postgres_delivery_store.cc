#include "aggregator/alerts/postgres_delivery_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "aggregator/postgres_schema.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator::alerts {
namespace {

// The columns Deliveries() reads, in its order.
#define GP_DELIVERY_COLUMNS(t)                                             \
  t ".id, " t ".finding_id, " t ".episode, " t ".event, " t ".finding, " t \
    ".attempts, " t ".created_us, " t ".next_attempt_us"

// Pending rows of $1 due at $2, each behind no older pending row of its
// finding (a receiver never hears RESOLVED before OPENED, whichever
// replica sends them).
#define GP_DUE_WHERE                                                         \
  "d.sink = $1 AND d.state = 'pending' AND d.next_attempt_us <= $2 AND NOT " \
  "EXISTS (SELECT 1 FROM delivery_outbox o WHERE o.sink = $1 AND "           \
  "o.finding_id = d.finding_id AND o.state = 'pending' AND o.id < d.id)"

constexpr const char* kDueSql = "SELECT " GP_DELIVERY_COLUMNS(
    "d") " FROM delivery_outbox d WHERE " GP_DUE_WHERE
         " ORDER BY d.id LIMIT $3";

// 1. Lock the due rows nobody else holds a live claim on; rows another
//    transaction is claiming right now are skipped, not waited for.
// 2. Stamp them with this replica and the lease's end, in the same
//    statement: committed (autocommit) before the worker sends anything.
constexpr const char* kClaimSql =
    "WITH due AS (SELECT d.id FROM delivery_outbox d WHERE " GP_DUE_WHERE
    " AND (d.claimed_until_us IS NULL OR d.claimed_until_us <= $2 OR "
    "d.claimed_by = $3) ORDER BY d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED) "
    "UPDATE delivery_outbox u SET claimed_by = $3, claimed_until_us = $5 "
    "FROM due WHERE u.id = due.id RETURNING " GP_DELIVERY_COLUMNS("u");

#undef GP_DUE_WHERE
#undef GP_DELIVERY_COLUMNS

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresDeliveryStore>>
PostgresDeliveryStore::Open(const std::string& uri,
                            const std::string& replica_id, absl::Time now) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<PostgresConnection> conn,
      PostgresConnection::Open(uri, "ghostpeer-aggregator alerts"));
  GHOSTPEER_RETURN_IF_ERROR(MigratePostgresSchema(*conn, now).status());
  return std::unique_ptr<PostgresDeliveryStore>(new PostgresDeliveryStore(
      std::move(conn), replica_id.empty() ? DefaultReplicaId() : replica_id));
}

PostgresDeliveryStore::PostgresDeliveryStore(
    std::unique_ptr<PostgresConnection> conn, std::string replica_id)
    : conn_(std::move(conn)), replica_id_(std::move(replica_id)) {}

PostgresDeliveryStore::~PostgresDeliveryStore() = default;

absl::StatusOr<PgResult> PostgresDeliveryStore::Run(const char* what,
                                                    const char* sql,
                                                    const PgParams& params) {
  return conn_->RunAlone(absl::StrCat("delivery store: ", what), sql, params);
}

absl::StatusOr<std::vector<Delivery>> PostgresDeliveryStore::Deliveries(
    const PgResult& rows, const std::string& sink) {
  std::vector<Delivery> out;
  out.reserve(rows.rows());
  for (int row = 0; row < rows.rows(); ++row) {
    Delivery d;
    d.sink = sink;
    const std::optional<int64_t> id = rows.Int(row, 0);
    const std::optional<int64_t> episode = rows.Int(row, 2);
    const std::optional<int64_t> attempts = rows.Int(row, 5);
    const std::optional<int64_t> created = rows.Int(row, 6);
    const std::optional<int64_t> next = rows.Int(row, 7);
    d.id = id.value_or(0);
    d.finding_id = std::string(rows.Bytes(row, 1));
    if (!id || !episode || !attempts || !created || !next ||
        !ParseDeliveryEventKey(rows.Bytes(row, 3), &d.event, &d.change) ||
        !d.finding.ParseFromString(std::string(rows.Bytes(row, 4)))) {
      return absl::DataLossError(absl::StrCat(
          "delivery store ", conn_->name(), ": row ", d.id, " is unreadable"));
    }
    d.episode = *episode;
    d.attempts = static_cast<int>(*attempts);
    d.created = PgFromMicros(*created);
    d.next_attempt = PgFromMicros(*next);
    out.push_back(std::move(d));
  }
  // RETURNING has no order.
  std::sort(out.begin(), out.end(),
            [](const Delivery& a, const Delivery& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<bool> PostgresDeliveryStore::Enqueue(const std::string& sink,
                                                    DeliveryEvent event,
                                                    const v1::Finding& finding,
                                                    absl::Time now,
                                                    const std::string& change) {
  std::string blob;
  if (!finding.SerializeToString(&blob)) {
    return absl::InternalError(
        absl::StrCat("finding ", finding.id(), ": cannot serialize"));
  }
  absl::MutexLock lock(&mu_);
  // Replicas reconciling one finding at once: the unique key makes one row,
  // and each of them learns whether it was its own.
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult inserted,
      Run("enqueue",
          "INSERT INTO delivery_outbox (sink, finding_id, episode, event, "
          "finding, state, created_us, next_attempt_us) VALUES ($1, $2, $3, "
          "$4, $5, 'pending', $6, $6) ON CONFLICT (sink, finding_id, "
          "episode, event) DO NOTHING RETURNING id",
          PgParams()
              .Text(sink)
              .Text(finding.id())
              .Int8(EpisodeOf(finding))
              .Text(DeliveryEventKey(event, change))
              .Bytea(blob)
              .Int8(PgMicros(now))));
  return inserted.rows() > 0;
}

absl::StatusOr<bool> PostgresDeliveryStore::Known(const std::string& sink,
                                                  const std::string& finding_id,
                                                  int64_t episode,
                                                  DeliveryEvent event) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult found,
      Run("known",
          "SELECT 1 FROM delivery_outbox WHERE sink = $1 AND finding_id = $2 "
          "AND episode = $3 AND event = $4 LIMIT 1",
          PgParams()
              .Text(sink)
              .Text(finding_id)
              .Int8(episode)
              .Text(DeliveryEventName(event))));
  return found.rows() > 0;
}

absl::StatusOr<std::vector<Delivery>> PostgresDeliveryStore::Due(
    const std::string& sink, absl::Time now, int limit) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult rows,
      Run("due", kDueSql,
          PgParams().Text(sink).Int8(PgMicros(now)).Int8(limit)));
  return Deliveries(rows, sink);
}

absl::StatusOr<std::vector<Delivery>> PostgresDeliveryStore::Claim(
    const std::string& sink, absl::Time now, int limit, absl::Duration lease) {
  const absl::Time until = now + lease;
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(PgResult rows, Run("claim", kClaimSql,
                                                PgParams()
                                                    .Text(sink)
                                                    .Int8(PgMicros(now))
                                                    .Text(replica_id_)
                                                    .Int8(limit)
                                                    .Int8(PgMicros(until))));
  GHOSTPEER_ASSIGN_OR_RETURN(std::vector<Delivery> claimed,
                             Deliveries(rows, sink));
  for (Delivery& d : claimed) d.claimed_until = until;
  return claimed;
}

absl::StatusOr<std::optional<absl::Time>> PostgresDeliveryStore::NextDue(
    const std::string& sink) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult next,
      Run("next due",
          "SELECT MIN(CASE WHEN d.claimed_by <> $2 AND d.claimed_until_us > "
          "d.next_attempt_us THEN d.claimed_until_us ELSE d.next_attempt_us "
          "END) FROM delivery_outbox d WHERE d.sink = $1 AND d.state = "
          "'pending' AND NOT EXISTS (SELECT 1 FROM delivery_outbox o WHERE "
          "o.sink = $1 AND o.finding_id = d.finding_id AND o.state = "
          "'pending' AND o.id < d.id)",
          PgParams().Text(sink).Text(replica_id_)));
  if (next.rows() != 1 || next.IsNull(0, 0)) {
    return std::optional<absl::Time>();
  }
  const std::optional<int64_t> us = next.Int(0, 0);
  if (!us) {
    return absl::DataLossError(absl::StrCat("delivery store ", conn_->name(),
                                            ": next due unreadable"));
  }
  return std::optional<absl::Time>(PgFromMicros(*us));
}

absl::Status PostgresDeliveryStore::ClaimLost(int64_t id, const char* what) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult other,
      Run("read claim",
          "SELECT claimed_by FROM delivery_outbox WHERE id = $1 AND state = "
          "'pending' AND claimed_by <> $2",
          PgParams().Int8(id).Text(replica_id_)));
  if (other.rows() == 0) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("delivery store ", conn_->name(), ": ", what, " row ", id,
                   ": claimed since by ", other.Bytes(0, 0)));
}

absl::Status PostgresDeliveryStore::Finish(int64_t id, const char* state,
                                           absl::Time now,
                                           const std::string& error,
                                           bool claim_must_be_ours) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult finished,
      Run(state,
          "UPDATE delivery_outbox SET state = $1, finished_us = $2, "
          "last_error = $3 WHERE id = $4 AND state = 'pending' AND ($5 = '' "
          "OR claimed_by IS NULL OR claimed_by = $5) RETURNING id",
          PgParams()
              .Text(state)
              .Int8(PgMicros(now))
              .Text(error)
              .Int8(id)
              .Text(claim_must_be_ours ? replica_id_ : std::string())));
  if (finished.rows() > 0) return absl::OkStatus();
  return ClaimLost(id, state);
}

absl::Status PostgresDeliveryStore::MarkDelivered(int64_t id, absl::Time now) {
  return Finish(id, "delivered", now, "", /*claim_must_be_ours=*/false);
}

absl::Status PostgresDeliveryStore::MarkAbandoned(int64_t id, absl::Time now,
                                                  const std::string& error) {
  return Finish(id, "abandoned", now, error, /*claim_must_be_ours=*/true);
}

absl::Status PostgresDeliveryStore::MarkFailed(int64_t id, int attempts,
                                               absl::Time next_attempt,
                                               const std::string& error) {
  absl::MutexLock lock(&mu_);
  // The claim ends with the attempt: whichever replica is free when it is
  // due next takes it.
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult failed,
      Run("mark failed",
          "UPDATE delivery_outbox SET attempts = $1, next_attempt_us = $2, "
          "last_error = $3, claimed_by = NULL, claimed_until_us = NULL "
          "WHERE id = $4 AND state = 'pending' AND (claimed_by IS NULL OR "
          "claimed_by = $5) RETURNING id",
          PgParams()
              .Int8(attempts)
              .Int8(PgMicros(next_attempt))
              .Text(error)
              .Int8(id)
              .Text(replica_id_)));
  if (failed.rows() > 0) return absl::OkStatus();
  return ClaimLost(id, "mark failed");
}

absl::StatusOr<std::map<std::string, int64_t>>
PostgresDeliveryStore::PendingBySink() {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult rows, Run("pending",
                         "SELECT sink, COUNT(*) FROM delivery_outbox WHERE "
                         "state = 'pending' GROUP BY sink",
                         PgParams()));
  std::map<std::string, int64_t> pending;
  for (int row = 0; row < rows.rows(); ++row) {
    pending[std::string(rows.Bytes(row, 0))] = rows.Int(row, 1).value_or(0);
  }
  return pending;
}

absl::StatusOr<int64_t> PostgresDeliveryStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult purged,
      Run("purge",
          "WITH gone AS (DELETE FROM delivery_outbox WHERE state <> 'pending' "
          "AND finished_us < $1 RETURNING 1) SELECT COUNT(*) FROM gone",
          PgParams().Int8(PgMicros(horizon))));
  return purged.rows() == 1 ? purged.Int(0, 0).value_or(0) : 0;
}

absl::Status PostgresDeliveryStore::Ping() {
  absl::MutexLock lock(&mu_);
  return Run("ping", "SELECT 1", PgParams()).status();
}

}  // namespace ghostpeer::aggregator::alerts
