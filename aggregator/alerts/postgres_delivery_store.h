// Alert delivery state in the PostgreSQL database a --db URI names, shared
// by every aggregator replica on it (issue 12): the delivery_outbox table
// of postgres_schema.cc, with the contract of DeliveryStore (once-only rows,
// claims leased with SELECT ... FOR UPDATE SKIP LOCKED).
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_POSTGRES_DELIVERY_STORE_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_POSTGRES_DELIVERY_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/alerts/delivery_store.h"
#include "aggregator/postgres_connection.h"

namespace ghostpeer::aggregator::alerts {

// Thread-safe: one connection of its own (so no delivery write waits on the
// history store's transactions) behind a mutex. A lost connection fails the
// call that finds it (Unavailable) and is re-established by the next one.
class PostgresDeliveryStore final : public DeliveryStore {
 public:
  // Connects to `uri` and creates or migrates the schema
  // (MigratePostgresSchema; `now` stamps a new database). `replica_id`
  // names this aggregator in claims; empty: DefaultReplicaId(). Errors:
  // the connection's and the migration's.
  static absl::StatusOr<std::unique_ptr<PostgresDeliveryStore>> Open(
      const std::string& uri, const std::string& replica_id, absl::Time now);
  ~PostgresDeliveryStore() override;

  absl::StatusOr<bool> Enqueue(const std::string& sink, DeliveryEvent event,
                               const v1::Finding& finding, absl::Time now,
                               const std::string& change = "") override;
  absl::StatusOr<bool> Known(const std::string& sink,
                             const std::string& finding_id, int64_t episode,
                             DeliveryEvent event) override;
  absl::StatusOr<std::vector<Delivery>> Due(const std::string& sink,
                                            absl::Time now, int limit) override;
  // One statement, committed before it returns: the due rows are locked
  // FOR UPDATE SKIP LOCKED (a replica claiming at the same moment takes
  // the others) and stamped with this replica and the lease's end.
  absl::StatusOr<std::vector<Delivery>> Claim(const std::string& sink,
                                              absl::Time now, int limit,
                                              absl::Duration lease) override;
  absl::StatusOr<std::optional<absl::Time>> NextDue(
      const std::string& sink) override;
  absl::Status MarkDelivered(int64_t id, absl::Time now) override;
  absl::Status MarkFailed(int64_t id, int attempts, absl::Time next_attempt,
                          const std::string& error) override;
  absl::Status MarkAbandoned(int64_t id, absl::Time now,
                             const std::string& error) override;
  absl::StatusOr<std::map<std::string, int64_t>> PendingBySink() override;
  absl::StatusOr<int64_t> Purge(absl::Time horizon) override;
  absl::Status Ping() override;
  const std::string& replica_id() const override { return replica_id_; }

 private:
  PostgresDeliveryStore(std::unique_ptr<PostgresConnection> conn,
                        std::string replica_id);
  // Connects if needed and runs one statement (binary results); errors say
  // `what` failed.
  absl::StatusOr<PgResult> Run(const char* what, const char* sql,
                               const PgParams& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rows of (id, finding_id, episode, event, finding, attempts, created_us,
  // next_attempt_us) as deliveries of `sink`, oldest first.
  absl::StatusOr<std::vector<Delivery>> Deliveries(const PgResult& rows,
                                                   const std::string& sink);
  absl::Status Finish(int64_t id, const char* state, absl::Time now,
                      const std::string& error, bool claim_must_be_ours);
  // After an update that changed nothing: Aborted when row `id` is pending
  // and claimed by another replica, OK otherwise.
  absl::Status ClaimLost(int64_t id, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  const std::unique_ptr<PostgresConnection> conn_ ABSL_GUARDED_BY(mu_);
  const std::string replica_id_;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_POSTGRES_DELIVERY_STORE_H_
