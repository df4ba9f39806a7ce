// The durable record of every remediation decision and outcome (issue 11):
// what was decided about which finding, who asked, which order went to
// which agent how often, and what the agent answered. Kept in a SQLite file
// of its own beside the Engine's (RecordStorePath), like alert deliveries,
// so that no remediation write holds a lock the ingest path waits for.
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

// Thread-safe (one connection behind a mutex). Errors: Unavailable (busy,
// unwritable), ResourceExhausted (disk full), DataLoss (corrupt file),
// Internal; each message names the file.
class RecordStore {
 public:
  // Opens or creates the file (":memory:" keeps nothing) and its table.
  static absl::StatusOr<std::unique_ptr<RecordStore>> Open(
      const std::string& path);
  ~RecordStore();
  RecordStore(const RecordStore&) = delete;
  RecordStore& operator=(const RecordStore&) = delete;

  // Inserts the record, or replaces the one with the same record.id (which
  // keeps its place in the newest-first order).
  absl::Status Put(const StoredRemediation& stored);

  // The record with this id; nullopt when none.
  absl::StatusOr<std::optional<StoredRemediation>> Get(const std::string& id);

  // Records matching `finding_id` and `node` (empty: any), newest decision
  // first, at most `limit`.
  absl::StatusOr<std::vector<StoredRemediation>> List(
      const std::string& finding_id, const std::string& node, size_t limit);

  // Every record whose order is awaited, oldest first.
  absl::StatusOr<std::vector<StoredRemediation>> Awaiting();

  // The newest record of every finding (the coordinator's memory of what
  // it decided, after a restart).
  absl::StatusOr<std::vector<StoredRemediation>> LatestPerFinding();

  // Deletes records decided before `horizon` whose order is not awaited
  // (the Engine forgets resolved findings after its retention too).
  // Returns how many went.
  absl::StatusOr<int64_t> Purge(absl::Time horizon);

 private:
  RecordStore(sqlite3* db, std::string path)
      : db_(db), path_(std::move(path)) {}
  absl::Status Error(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
