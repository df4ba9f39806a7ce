// The aggregator's HistoryStore (history_store.h) in one SQLite database:
// address history, the last stored address seq per agent instance, and
// findings.
#ifndef GHOSTPEER_AGGREGATOR_SQLITE_STORE_H_
#define GHOSTPEER_AGGREGATOR_SQLITE_STORE_H_

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
#include "ghostpeer/v1/model.pb.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ghostpeer::aggregator {

// The newest schema this build writes. Open() migrates older databases up to
// it and refuses newer ones.
inline constexpr int kSchemaVersion = 3;

// Thread-safe: one connection, serialised by an internal mutex. Every method
// that writes does so in one transaction: it happens entirely or not at all.
// Status codes: DataLoss (the file is not a database, or corrupt),
// FailedPrecondition (cannot be opened or written: permissions, read-only
// file system, a schema newer than this build), Unavailable (busy past the
// timeout, I/O error), ResourceExhausted (disk full), Internal (anything
// else SQLite says).
class SqliteStore final : public HistoryStore {
 public:
  // Opens or creates the database at `path` (":memory:" for a private
  // in-memory database), sets WAL, synchronous=NORMAL (a commit survives a
  // process crash; an OS crash may lose the last commits, never corrupt),
  // busy_timeout, and creates or migrates the schema. `now` stamps a new
  // database's creation time.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      const std::string& path, absl::Time now);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Reads the whole retained state.
  absl::StatusOr<StoredState> Load() override;

  // Writes `changes` (in order) and records `seq` as the last address seq
  // stored for (node, agent_instance), in one transaction.
  absl::Status CommitAddressBatch(const std::string& node,
                                  const std::string& agent_instance,
                                  uint64_t seq, const HistoryChanges& changes,
                                  absl::Time now) override;

  // Writes `changes` (in order), with no seq, in one transaction.
  absl::Status CommitHistoryChanges(const HistoryChanges& changes) override;

  // Inserts or replaces findings (by id), in one transaction.
  absl::Status SaveFindings(const std::vector<StoredFinding>& findings,
                            absl::Time now) override;

  // Deletes closed intervals that ended before `horizon`, resolved findings
  // resolved before it, and seq rows of agent instances not heard from
  // since it — in one transaction.
  absl::Status Purge(absl::Time horizon) override;

  absl::Time created_at() const override { return created_at_; }
  const std::string& path() const { return path_; }
  std::string location() const override { return path_; }

 private:
  class Statement;
  SqliteStore(std::string path, sqlite3* db);

  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(int code, const std::string& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<sqlite3_stmt*> Prepared(const char* sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteOp(const HistoryOp& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `body` between BEGIN IMMEDIATE and COMMIT; ROLLBACK on error.
  template <typename Body>
  absl::Status InTransaction(const char* what, Body body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* const db_ ABSL_GUARDED_BY(mu_);
  // Prepared statements by SQL text (pointer identity of the literals).
  std::vector<std::pair<const char*, sqlite3_stmt*>> statements_
      ABSL_GUARDED_BY(mu_);
  absl::Time created_at_;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SQLITE_STORE_H_
