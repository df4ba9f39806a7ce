// Remediation records in the PostgreSQL database a --db URI names, shared
// by every aggregator replica on it (issue 12): the remediations table of
// postgres_schema.cc, with the contract of RecordStore (one decision
// follows a record across replicas, by a unique key).
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_POSTGRES_RECORD_STORE_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_POSTGRES_RECORD_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/postgres_connection.h"
#include "aggregator/remediation/record_store.h"

namespace ghostpeer::aggregator::remediation {

// Thread-safe: one connection of its own behind a mutex. A lost connection
// fails the call that finds it (Unavailable) and is re-established by the
// next one.
class PostgresRecordStore final : public RecordStore {
 public:
  // Connects to `uri` and creates or migrates the schema
  // (MigratePostgresSchema; `now` stamps a new database). Errors: the
  // connection's and the migration's.
  static absl::StatusOr<std::unique_ptr<PostgresRecordStore>> Open(
      const std::string& uri, absl::Time now);
  ~PostgresRecordStore() override;
  PostgresRecordStore(const PostgresRecordStore&) = delete;
  PostgresRecordStore& operator=(const PostgresRecordStore&) = delete;

  absl::StatusOr<std::optional<StoredRemediation>> AddDecision(
      const StoredRemediation& stored, const std::string& previous_id) override;
  absl::Status Put(const StoredRemediation& stored) override;
  absl::StatusOr<std::optional<StoredRemediation>> Get(
      const std::string& id) override;
  absl::StatusOr<std::vector<StoredRemediation>> List(
      const std::string& finding_id, const std::string& node,
      size_t limit) override;
  absl::StatusOr<std::vector<StoredRemediation>> Awaiting() override;
  absl::StatusOr<std::vector<StoredRemediation>> LatestPerFinding() override;
  absl::StatusOr<int64_t> Purge(absl::Time horizon) override;

 private:
  explicit PostgresRecordStore(std::unique_ptr<PostgresConnection> conn);
  // Connects if needed and runs one statement (binary results); errors say
  // `what` failed.
  absl::StatusOr<PgResult> Run(const char* what, const char* sql,
                               const PgParams& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a SELECT of the record columns (kColumns in the .cc).
  absl::StatusOr<std::vector<StoredRemediation>> Select(const char* what,
                                                        const std::string& sql,
                                                        const PgParams& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  const std::unique_ptr<PostgresConnection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::aggregator::remediation

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_POSTGRES_RECORD_STORE_H_
