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
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
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

// Where one node's agent stream is, as the aggregators sharing a store
// record it (shared stores only): the replica that serves the node, whether
// the stream is open, and when the node was last heard of there. Tick judges
// a node's silence by it cluster-wide, so a replica never resolves the
// findings of a node another replica serves.
struct NodePresence {
  std::string node;
  std::string replica;  // EngineOptions::replica_name of the serving replica
  bool connected = false;
  absl::Time last_contact = absl::InfinitePast();  // the replica's clock
  absl::Time last_report = absl::InfinitePast();   // InfinitePast: never
};

// What other aggregators committed to a shared store since this store last
// read it. Intervals come as stored now (owner_id unset; a closed one's
// ended_by as the replica that closed it knew it, kAbsence when unknown),
// each once, whatever happened to them in between.
struct CommittedChanges {
  std::vector<OwnershipInterval> intervals;
  std::vector<AgentSeq> seqs;
  // ReadCommitted only (WriteHistory reads history alone).
  std::vector<StoredFinding> findings;
  // ReadCommitted only: every node's presence row, not only changed ones.
  std::vector<NodePresence> presence;
};

// What one history write stores (WriteHistory's `compute` returns it).
struct HistoryWrite {
  // The interval changes to store; null or empty: none.
  const HistoryChanges* changes = nullptr;
  // Set for an agent's batch: the last address seq stored for (node,
  // agent_instance), never lowered.
  std::optional<AgentSeq> seq;
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
// * Serializable history (issue 12). Several aggregators may share one
//   store (shared() true: PostgreSQL). Each keeps the history in memory, so
//   every change must be computed on a history that already holds every
//   change any aggregator committed before it — else a reassignment seen by
//   one replica and a departure seen by another leave two open intervals for
//   one address. Hence WriteHistory: one cluster-wide lock per write, the
//   other writers' committed changes handed to `merge` first, then
//   `compute` runs on the merged memory, then its result is written and
//   committed, all under that lock. Interval ids come from the merged memory
//   (AddressHistory::next_id), so under the lock they are unique across
//   replicas and restarts and still grow in commit order — which the
//   detector relies on (SocketMemory::history_mark): a per-replica id
//   prefix would make one replica's ids all larger than another's.
//   A store nobody else writes (SQLite, the test fake) merges nothing.
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

  // One serializable history write (see the contract above): takes the
  // store's write lock (cluster-wide on a shared store), calls `merge` with
  // what other writers committed since this store last read them, calls
  // `compute` — which applies this write's changes to memory, on top of
  // the merge — and writes what it returns in the same transaction:
  // CommitAddressBatch's rows when it has a seq, else
  // CommitHistoryChanges'. Either callback may not run when the store fails
  // first (then nothing was written). On an error after `compute` ran, the
  // caller reverts what `compute` applied; what `merge` took in stays (other
  // writers' committed facts). The default, for stores with one writer,
  // merges nothing and calls the two methods below.
  virtual absl::Status WriteHistory(
      absl::FunctionRef<void(CommittedChanges)> merge,
      absl::FunctionRef<HistoryWrite()> compute, absl::Time now);

  // Whether other aggregators may write this store at the same time.
  virtual bool shared() const { return false; }

  // Shared stores: what other aggregators committed since this store last
  // read (by WriteHistory or this method), with every node's presence. The
  // caller merges it before any later WriteHistory's merge (it serialises
  // the two). Empty for a store with one writer.
  virtual absl::StatusOr<CommittedChanges> ReadCommitted() {
    return CommittedChanges{};
  }

  // Shared stores: upserts presence rows. A row saying `connected` false
  // only changes a row its own replica wrote (a replica whose stream ended
  // never takes a node back from the replica it moved to). `now` stamps
  // them; Purge forgets rows not written since its horizon. OK, nothing
  // done, for a store with one writer.
  virtual absl::Status WritePresence(const std::vector<NodePresence>& presence,
                                     absl::Time now) {
    (void)presence;
    (void)now;
    return absl::OkStatus();
  }

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

  // Where the store is, fit for messages (a URI's password hidden).
  virtual std::string location() const { return "(in memory)"; }

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
