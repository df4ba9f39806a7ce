// A HistoryStore in memory, with injected failures: the Engine's and the
// services' tests run against it instead of a database, and can make any
// write fail the way a full disk or a busy database would.
#ifndef GHOSTPEER_TESTS_FAKES_IN_MEMORY_HISTORY_STORE_H_
#define GHOSTPEER_TESTS_FAKES_IN_MEMORY_HISTORY_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/history_store.h"

namespace ghostpeer::fakes {

// Keeps the HistoryStore contract (history_store.h): a failed write changes
// nothing, a seq never goes back, Purge forgets what SqliteStore forgets.
// Nothing survives the object. Thread-safe.
class InMemoryHistoryStore final : public aggregator::HistoryStore {
 public:
  // The writes a test can make fail.
  enum class Write { kAddressBatch, kFindings, kPurge };

  explicit InMemoryHistoryStore(absl::Time created_at)
      : created_at_(created_at) {}

  // The next `count` calls of `write` fail with `status` (not OK) and store
  // nothing; later ones succeed again. Replaces an earlier injection for
  // the same write.
  void FailNext(Write write, int count, absl::Status status);

  // Calls of `write` that succeeded so far.
  int successful_writes(Write write) const;

  absl::StatusOr<aggregator::StoredState> Load() override;
  absl::Status CommitAddressBatch(const std::string& node,
                                  const std::string& agent_instance,
                                  uint64_t seq,
                                  const aggregator::HistoryChanges& changes,
                                  absl::Time now) override;
  // Fails as kAddressBatch does (one injection covers both history writes).
  absl::Status CommitHistoryChanges(
      const aggregator::HistoryChanges& changes) override;
  absl::Status SaveFindings(
      const std::vector<aggregator::StoredFinding>& findings,
      absl::Time now) override;
  absl::Status Purge(absl::Time horizon) override;
  absl::Time created_at() const override { return created_at_; }

 private:
  struct Injected {
    int remaining = 0;
    absl::Status status;
  };
  struct Seq {
    uint64_t seq = 0;
    absl::Time updated;
  };
  struct Finding {
    aggregator::StoredFinding stored;
    absl::Time updated;
  };

  // Applies `changes` to intervals_ whole, or returns an error and changes
  // nothing.
  absl::Status ApplyChanges(const aggregator::HistoryChanges& changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The injected failure for `write`, consuming one; OK when none is due.
  absl::Status TakeInjected(Write write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Time created_at_;
  mutable absl::Mutex mu_;
  std::map<Write, Injected> injected_ ABSL_GUARDED_BY(mu_);
  std::map<Write, int> successes_ ABSL_GUARDED_BY(mu_);
  std::map<aggregator::IntervalId, aggregator::OwnershipInterval> intervals_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, Seq> seqs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Finding> findings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::fakes

#endif  // GHOSTPEER_TESTS_FAKES_IN_MEMORY_HISTORY_STORE_H_
