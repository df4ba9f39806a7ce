// The durable record of every remediation decision and outcome (issue 11):
// what was decided about which finding, who asked, which order went to
// which agent how often, and what the agent answered. With a SQLite --db,
// a file of its own beside the Engine's (RecordStorePath), like alert
// deliveries, so that no remediation write holds a lock the ingest path
// waits for; with a PostgreSQL --db, a table in that database shared by
// every replica (postgres_record_store.h).
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_RECORD_STORE_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_RECORD_STORE_H_

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
#include "ghostpeer/v1/query.pb.h"

struct sqlite3;

namespace ghostpeer::aggregator::remediation {

// One decision and what came of it, with what the coordinator needs beyond
// the public record.
struct StoredRemediation {
  v1::Remediation record;
  // The finding's episode (its first_seen, unix microseconds): a finding
  // reopened under the same id is a new situation.
  int64_t episode_us = 0;
  // An order for it is to be sent or was sent and is unanswered.
  bool awaiting = false;
  // The order asks the agent for its re-check only (a person's dry run).
  bool dry_run_order = false;
};

// Where the records of the Engine database `engine_db_path` live:
// "<engine_db_path>-remediations" (":memory:" stays in memory).
std::string RecordStorePath(const std::string& engine_db_path);

// The remediation records of one aggregator, or of several sharing one
// database (issue 12). Every implementation is thread-safe and keeps one
// contract. Errors: Unavailable (busy, unwritable, connection lost),
// ResourceExhausted (disk full), DataLoss (corrupt or unreadable), Internal;
// each message names the store.
class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Adds `stored`, a new decision about its finding that follows the
  // record `previous_id` (the finding's newest as the caller knows it;
  // empty: the finding's first). One decision follows a record, across
  // every replica sharing the store: when another decision follows
  // `previous_id` already (a replica judged the same finding from the same
  // view, or this one's view is stale), nothing is added and the finding's
  // newest record comes back, for the caller to judge again from. nullopt
  // when `stored` was added. AlreadyExists when its record.id is taken.
  virtual absl::StatusOr<std::optional<StoredRemediation>> AddDecision(
      const StoredRemediation& stored, const std::string& previous_id) = 0;

  // Replaces the record with the same record.id (which keeps its place in
  // the newest-first order), or inserts it. A record with an outcome is
  // never replaced by one without: an outcome received by one replica
  // survives another giving the order up at the same moment.
  virtual absl::Status Put(const StoredRemediation& stored) = 0;

  // The record with this id; nullopt when none.
  virtual absl::StatusOr<std::optional<StoredRemediation>> Get(
      const std::string& id) = 0;

  // Records matching `finding_id` and `node` (empty: any), newest decision
  // first, at most `limit`.
  virtual absl::StatusOr<std::vector<StoredRemediation>> List(
      const std::string& finding_id, const std::string& node, size_t limit) = 0;

  // Every record whose order is awaited, oldest first.
  virtual absl::StatusOr<std::vector<StoredRemediation>> Awaiting() = 0;

  // The newest record of every finding (the coordinator's memory of what
  // it decided, after a restart).
  virtual absl::StatusOr<std::vector<StoredRemediation>> LatestPerFinding() = 0;

  // Deletes records decided before `horizon` whose order is not awaited
  // (the Engine forgets resolved findings after its retention too).
  // Returns how many went.
  virtual absl::StatusOr<int64_t> Purge(absl::Time horizon) = 0;
};

// What makes AddDecision once per predecessor: the unique key of a
// decision about `finding_id` following `previous_id`. Pure.
std::string DecisionKey(const std::string& finding_id,
                        const std::string& previous_id);

// A SQLite file (one connection behind a mutex); several processes on one
// host may share it.
class SqliteRecordStore final : public RecordStore {
 public:
  // Opens or creates the file (":memory:" keeps nothing) and its table,
  // adding the columns of issue 12 to a file an older build created.
  static absl::StatusOr<std::unique_ptr<SqliteRecordStore>> Open(
      const std::string& path);
  ~SqliteRecordStore() override;
  SqliteRecordStore(const SqliteRecordStore&) = delete;
  SqliteRecordStore& operator=(const SqliteRecordStore&) = delete;

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
  SqliteRecordStore(sqlite3* db, std::string path)
      : db_(db), path_(std::move(path)) {}
  absl::Status Error(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddColumns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a SELECT of the record columns with `bind` applied.
  template <typename BindFn>
  absl::StatusOr<std::vector<StoredRemediation>> Select(const char* sql,
                                                        BindFn bind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_GUARDED_BY(mu_);
  const std::string path_;
};

}  // namespace ghostpeer::aggregator::remediation

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_RECORD_STORE_H_
