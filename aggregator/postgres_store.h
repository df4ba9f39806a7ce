// The aggregator's HistoryStore (history_store.h) in a PostgreSQL database,
// reached by a libpq connection URI (postgresql://user:pass@host/db?...):
// the same logical tables as SqliteStore — intervals, agent seqs, findings,
// the creation time — for a history that outlives the aggregator's node and
// that several aggregators can share (issue 12).
#ifndef GHOSTPEER_AGGREGATOR_POSTGRES_STORE_H_
#define GHOSTPEER_AGGREGATOR_POSTGRES_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/address_history.h"
#include "aggregator/history_store.h"
#include "aggregator/postgres_connection.h"
#include "aggregator/postgres_schema.h"

namespace ghostpeer::aggregator {

// Thread-safe: one connection, serialised by an internal mutex. Every method
// that writes does so in one transaction (BEGIN ... COMMIT; ROLLBACK or the
// server's own abort on any failure): it happens entirely or not at all.
// A write that returned OK is committed with the server's durability
// (synchronous_commit as the server or the URI's options set it; on by
// default).
//
// Connection loss: the call that finds it returns Unavailable naming the
// store (its redacted URI); the next call reconnects. One case stays
// ambiguous, as with any client-server database: a connection lost after
// COMMIT was sent and before its answer came back reports Unavailable for a
// transaction the server may have committed. The Engine reverts; the rows,
// if committed, carry a stamp past this store's cursor, so the next
// WriteHistory or ReadCommitted merges them back like another replica's
// (and the stored seq with them: the agent's resend is then a replay).
//
// Status codes (SQLSTATE classes): Unavailable (connection lost or refused,
// server shutting down, serialization failure, deadlock, lock timeout, too
// many connections), FailedPrecondition (authentication, missing privilege
// or database, read-only transaction, a schema newer than this build),
// ResourceExhausted (disk full, out of memory), DataLoss (data or index
// corrupted, or rows this build cannot read), Internal (anything else).
// No message carries the URI's password.
class PostgresStore final : public HistoryStore {
 public:
  // Connects to `uri` (defaults that the URI may override: connect_timeout
  // 10 s, tcp_user_timeout 30 s, application_name ghostpeer-aggregator),
  // then creates or migrates the schema in one transaction under a
  // transaction-scoped advisory lock, so two aggregators starting at once
  // migrate one after the other. `now` stamps a new database's creation.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      const std::string& uri, absl::Time now);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Reads the whole retained state in one REPEATABLE READ transaction (the
  // three tables as of one moment, even while other aggregators write), and
  // sets the cursors ReadCommitted and WriteHistory read on from.
  absl::StatusOr<StoredState> Load() override;

  // Serializable across every aggregator on the database (history_store.h):
  // one transaction that takes the history write lock (a transaction-scoped
  // advisory lock, so a crashed holder's lock dies with its session), reads
  // the intervals and agent seqs whose change_seq is past this store's
  // cursor for `merge`, then stamps what `compute` returns with one new
  // history_changes value. Stamps are drawn under the lock, so their order
  // is commit order: a reader that saw stamp N has seen every stamp below
  // N that will ever commit.
  absl::Status WriteHistory(absl::FunctionRef<void(CommittedChanges)> merge,
                            absl::FunctionRef<HistoryWrite()> compute,
                            absl::Time now) override;
  bool shared() const override { return true; }
  // One REPEATABLE READ transaction: history and findings rows past the
  // cursors, and every presence row; tried twice when the first attempt
  // finds the connection lost.
  absl::StatusOr<CommittedChanges> ReadCommitted() override;
  // One upsert for all of `presence`.
  absl::Status WritePresence(const std::vector<NodePresence>& presence,
                             absl::Time now) override;

  // One transaction of at most five statements, whatever the batch's size:
  // the inserts as one INSERT ... SELECT FROM unnest(arrays), the closes and
  // owner updates as one UPDATE ... FROM unnest(arrays) each, the seq upsert;
  // under the history write lock, stamped, merging nothing (WriteHistory
  // is what the Engine calls).
  absl::Status CommitAddressBatch(const std::string& node,
                                  const std::string& agent_instance,
                                  uint64_t seq, const HistoryChanges& changes,
                                  absl::Time now) override;

  absl::Status CommitHistoryChanges(const HistoryChanges& changes) override;

  // One upsert for all of `findings` (the last of several with one id wins),
  // under the findings write lock and stamped with one finding_changes
  // value, as history writes are.
  absl::Status SaveFindings(const std::vector<StoredFinding>& findings,
                            absl::Time now) override;

  // Also forgets presence rows not written since `horizon`.
  absl::Status Purge(absl::Time horizon) override;

  std::string location() const override { return name_; }
  absl::Time created_at() const override { return created_at_; }
  // The URI with its password hidden (RedactPostgresUri).
  const std::string& name() const { return name_; }

 private:
  PostgresStore(std::unique_ptr<PostgresConnection> conn,
                absl::Time created_at);

  absl::Status WriteChanges(const HistoryChanges& changes, int64_t stamp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ReadCommitted's one attempt.
  absl::StatusOr<CommittedChanges> ReadCommittedOnce()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Within a transaction: takes the history write lock.
  absl::Status LockHistory() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Within a transaction holding the history write lock: stamps and writes
  // `write`; `*stamp` is its change_seq (0: nothing to write).
  absl::Status WriteStamped(const HistoryWrite& write, absl::Time now,
                            int64_t* stamp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Within a transaction: intervals and agent seqs whose change_seq is
  // past `after`, and findings likewise; `*last` grows to the largest read.
  // `with_evidence`: closed intervals carry how their end became known
  // (merges); else kUnknown, as after a restart (Load).
  absl::Status ReadHistorySince(int64_t after, bool with_evidence,
                                CommittedChanges* out, int64_t* last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReadFindingsSince(int64_t after, std::vector<StoredFinding>* out,
                                 int64_t* last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  absl::Mutex mu_;
  const std::unique_ptr<PostgresConnection> conn_ ABSL_GUARDED_BY(mu_);
  const absl::Time created_at_;
  // The largest change_seq of history rows (intervals, agent seqs) and of
  // findings this store has handed to its Engine: the next read starts
  // after them.
  int64_t history_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t findings_cursor_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_POSTGRES_STORE_H_
