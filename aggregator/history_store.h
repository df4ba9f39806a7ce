// Where the aggregator keeps what must survive a restart: address history,
// the last stored address seq per agent instance, and findings.
//
// Sockets are not stored: agents resend a full snapshot on every reconnect.
// What must survive a restart is what no agent can resend — who held an
// address in the past, which address events were acknowledged (an ack means
// durable), and open findings with their first_seen and the detector's
// per-connection memory.
//
// The Engine depends on this interface only. SqliteStore (sqlite_store.h)
// and PostgresStore (postgres_store.h) implement it; tests use
// tests/fakes/in_memory_history_store.h.
#ifndef GHOSTPEER_AGGREGATOR_HISTORY_STORE_H_
#define GHOSTPEER_AGGREGATOR_HISTORY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/address_history.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

struct AgentSeq {
  std::string node;
  std::string agent_instance;
  uint64_t seq = 0;
};

struct StoredFinding {
  v1::Finding finding;
  // The detector's memory of the finding's connection (detector.h
  // EncodeMemory); opaque to the store.
  std::string memory;
};

// Everything Load() returns.
struct StoredState {
  std::vector<OwnershipInterval> intervals;  // owner_id unset
  std::vector<AgentSeq> seqs;
  std::vector<StoredFinding> findings;
  // When this store was created: history is complete since then.
  absl::Time created_at;
};

// The contract every implementation keeps:
//
// * Thread-safe: any method may be called from any thread.
// * Atomic writes: every method that writes does so in one transaction; it
//   happens entirely or not at all, and a failed write leaves the stored
//   state as before the call (the Engine then reverts its memory to match).
// * Durable on OK: once a write returned OK, Load() — in this process or
//   after a restart — returns it. The Engine acknowledges address events to
//   agents on that promise.
// * Status codes: DataLoss (stored data unreadable or corrupt),
//   FailedPrecondition (cannot be opened or written as configured:
//   permissions, read-only storage, a schema newer than this build),
//   Unavailable (transient: busy past a timeout, I/O error, connection
//   lost), ResourceExhausted (no space left), Internal (anything else).
//   Messages name the store (its path or address).
class HistoryStore {
 public:
  virtual ~HistoryStore() = default;

  // Reads the whole retained state.
  virtual absl::StatusOr<StoredState> Load() = 0;

  // Writes `changes` (in order: inserts, closes and owner updates of
  // intervals by id) and records `seq` as the last address seq stored for
  // (node, agent_instance) — never lowering a seq already stored — in one
  // transaction. `now` stamps the seq row (Purge forgets silent instances).
  virtual absl::Status CommitAddressBatch(const std::string& node,
                                          const std::string& agent_instance,
                                          uint64_t seq,
                                          const HistoryChanges& changes,
                                          absl::Time now) = 0;

  // Writes `changes` the aggregator made on its own evidence rather than an
  // agent's events (a lost node's intervals closed), in one transaction; no
  // seq moves. Empty: OK, nothing done.
  virtual absl::Status CommitHistoryChanges(const HistoryChanges& changes) = 0;

  // Inserts or replaces findings (by id), in one transaction. `now` stamps
  // them (Purge forgets resolved findings by it). Empty: OK, nothing done.
  virtual absl::Status SaveFindings(const std::vector<StoredFinding>& findings,
                                    absl::Time now) = 0;

  // Deletes closed intervals that ended before `horizon`, resolved findings
  // saved before it, and seq rows of agent instances not heard from since
  // it — in one transaction.
  virtual absl::Status Purge(absl::Time horizon) = 0;

  // When the store was created (constant for its lifetime).
  virtual absl::Time created_at() const = 0;
};

// Opens the store `location` names (the aggregator's --db), creating it
// stamped with `now` when new: a PostgreSQL database for a libpq connection
// URI ("postgresql://..." or "postgres://..."), else a SQLite database file
// (":memory:" for a private in-memory one). InvalidArgument for an empty
// location or one naming a kind of store this build has no support for
// ("scheme://..."); otherwise the store's own errors, as above.
absl::StatusOr<std::unique_ptr<HistoryStore>> OpenHistoryStore(
    const std::string& location, absl::Time now);

// `location` fit for logs: a URI's password hidden (RedactPostgresUri), a
// file path as it is. Messages from OpenHistoryStore's stores already are.
std::string RedactStoreLocation(const std::string& location);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_HISTORY_STORE_H_
