// Who held which address when: ownership intervals built from agents'
// address events, indexed by address. In memory; SqliteStore persists the
// changes this class reports.
#ifndef GHOSTPEER_AGGREGATOR_ADDRESS_HISTORY_H_
#define GHOSTPEER_AGGREGATOR_ADDRESS_HISTORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

// Interval ids only grow, also across restarts (the store keeps them), so an
// id says which of two intervals was recorded first — without comparing
// times that come from different nodes' clocks.
using IntervalId = int64_t;
// Owners interned by identity (OwnerIdentityKey). Valid for this process
// only: persist OwnerIdentityKey instead.
using OwnerId = uint32_t;

// How the end of an interval became known. The detector trusts the two
// kinds differently (detector.h, DetectorOptions::departure_skew): a reading
// can miss an address for a moment, so an address absent from one reading
// may come back; an event that reports a departure cannot be such a gap.
enum class EndEvidence {
  // Open, or closed before this process started (not persisted: an
  // interval loaded from the store counts as no better than kAbsence).
  kUnknown,
  // The address was missing from an observation (OBSERVATION DETACH) or
  // from an inventory of any source.
  kAbsence,
  // A DETACH that reports the departure itself: Docker's die, destroy or
  // disconnect (DOCKER_EVENT), or the tasks API saying the task ended or is
  // gone (SWARM_TASKS).
  kDeparture,
};

// One owner holding one address from `since` until `until` (InfiniteFuture
// while still held).
struct OwnershipInterval {
  IntervalId id = 0;
  OwnerId owner_id = 0;
  // The owner as reported (address, identity, names); since/until unset.
  v1::AddressOwner owner;
  // The node whose agent reported it, and how it knew.
  std::string reporter;
  v1::AddressEventSource source = v1::ADDRESS_EVENT_SOURCE_UNSPECIFIED;
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  // Why `until` is what it is; kUnknown while open.
  EndEvidence ended_by = EndEvidence::kUnknown;
  // Why it ended (UNSPECIFIED while open, or when closed by an older build).
  v1::CloseReason close_reason = v1::CLOSE_REASON_UNSPECIFIED;

  bool open() const { return until == absl::InfiniteFuture(); }
  // `owner` with since and (when closed) until and close_reason filled in.
  v1::AddressOwner ToProto() const;
};

// Address scope (docs/DESIGN.md "Address scope"; model.proto AddressScope).
// A node-local address is keyed by (owner node, address): two nodes holding
// 172.18.0.3 at once are two addresses that share a text. The history keeps
// one record per address text and every interval says its scope; readers
// that resolve a client's peer look only at the intervals reachable from
// the client's node (ReachableFrom).
//
// Whether `owner`'s address means one holder in the whole cluster. Node-local
// only when the owner says ADDRESS_SCOPE_NODE (swarm tasks and VIPs never
// are); unspecified — agents older than the field, and intervals stored
// before it — stays cluster-wide, as everything was before, so an upgrade
// changes no verdict about old history. Pure.
bool IsClusterWide(const v1::AddressOwner& owner);

// Whether a client on `client_node` can reach the holding `owner` describes:
// a cluster-wide one from anywhere, a node-local one only from its own node.
// Pure.
bool ReachableFrom(const v1::AddressOwner& owner,
                   absl::string_view client_node);

// Everything known about one address.
struct AddressRecord {
  // Sorted by (since, id); usually a handful.
  std::vector<OwnershipInterval> intervals;
  int open_count = 0;     // intervals still held: the address is held now
  bool ever_vip = false;  // some owner was a swarm VIP: never a ghost
};

// One change to the history, in the order applied. Store writes them; Revert
// undoes them when the write fails, so memory never runs ahead of disk.
struct HistoryOp {
  enum class Kind { kInsert, kClose, kUpdateOwner };
  Kind kind = Kind::kInsert;
  OwnershipInterval after;   // the interval as the op left it
  OwnershipInterval before;  // kClose/kUpdateOwner: as it was
};
using HistoryChanges = std::vector<HistoryOp>;

// The rules (docs/DESIGN.md "Aggregator", issue 3):
//
// * Owner identity is SameOwner() (owner.h). An address may have several
//   open intervals at once (an overlay address seen from two namespaces, two
//   nodes, or two sources): it is "held now" while any is open.
// * ATTACH opens an interval at the event's time. If the same owner already
//   holds the address open, nothing new opens (idempotent; replays, and an
//   observation confirming a Docker event); non-empty descriptive fields of
//   the event (names, service, task, image, network) fill in or replace the
//   open interval's. Scope merges apart: unspecified says nothing, and a
//   cluster-wide word (Docker's, for an overlay network) is never turned
//   back into node-local (an observation's guess, made before Docker
//   answered). An owner's intervals for one address never overlap: an
//   ATTACH dated before that owner's last `until` opens at that `until`.
// * DETACH closes the owner's open interval at the event's time (never
//   before its `since`), for the reason the event's owner gives
//   (close_reason), else the one its source implies: TASK_ENDED for a swarm
//   task, DETACHED otherwise; ended_by kDeparture for the DOCKER_EVENT and
//   SWARM_TASKS sources, kAbsence for OBSERVATION and for a NODE_LOST an
//   agent reports (the managers' view alone: the Engine decides node loss).
//   A DETACH for an owner that never held the address is kept as a
//   zero-length closed interval [time, time]: it is evidence that the owner
//   held the address up to then (a Docker `die` for a container seen before
//   the agent started). A DETACH for an owner whose intervals are all closed
//   already is a duplicate and ignored.
// * INVENTORY from node R with source S is the complete set R holds now
//   according to S's family — node-local (OBSERVATION, DOCKER_EVENT) or
//   cluster-wide (SWARM_TASKS): open intervals R reported from that family
//   and missing from the set close at the event's time; members not held
//   open are opened as by ATTACH. A manager's task inventory therefore never
//   closes what its own namespaces hold, and vice versa. What an inventory
//   closes ended by kAbsence, for NOT_IN_INVENTORY.
// * Owners of different nodes are different owners (SameOwner): node A's
//   events never open, close or describe node B's intervals, so a
//   node-local address reused on two nodes keeps two histories.
// * CloseNode (node loss, decided by the Engine from the managers' view)
//   closes every open interval whose owner is on the node, for NODE_LOST —
//   not those the node reported about others (a manager's view of tasks
//   elsewhere), ended_by kDeparture: the Engine decided it on two signals
//   (node_loss.h), no gap in one reading. The node's next INVENTORY reopens
//   what it still holds, as new intervals.
// * Event times are the agents' clocks, already validated and clamped
//   (validation.h): history compares them only within one address.
//
// Not thread-safe: the Engine serialises access.
class AddressHistory {
 public:
  AddressHistory() = default;
  AddressHistory(const AddressHistory&) = delete;
  AddressHistory& operator=(const AddressHistory&) = delete;

  // Replaces the contents with `intervals` as stored (any order). Internal
  // when two share an id. Ids given to later inserts start after the largest.
  absl::Status Load(std::vector<OwnershipInterval> intervals);

  // Applies one validated event (validation.h) reported by `reporter`,
  // appending what changed to `*changes`.
  void Apply(absl::string_view reporter, const v1::AddressEvent& event,
             HistoryChanges* changes);

  // Closes, at `time` (never before an interval's since), every open
  // interval whose owner's node is `node`, for NODE_LOST, appending the
  // closes to `*changes`. Returns how many closed.
  size_t CloseNode(absl::string_view node, absl::Time time,
                   HistoryChanges* changes);

  // Takes in `interval` as another aggregator sharing the store committed
  // it (history_store.h CommittedChanges): replaces the interval with its id
  // or inserts it. Ids given to later inserts start after it, so the next
  // insert under the store's write lock cannot reuse an id another replica
  // took. Stored state wins: a merged interval is a committed fact.
  void Merge(OwnershipInterval interval);

  // Undoes `changes`, which must be the most recent ops applied (newest
  // last), restoring the history as it was before them.
  void Revert(const HistoryChanges& changes);

  // Forgets closed intervals whose `until` is before `horizon`. Returns how
  // many were removed.
  size_t PurgeEndedBefore(absl::Time horizon);

  // Everything known about `address` (canonical text), or nullptr if no
  // retained interval mentions it.
  const AddressRecord* Find(absl::string_view address) const;

  // The identity key / container id of an interned owner. `id` must come
  // from this history.
  const std::string& OwnerKey(OwnerId id) const { return owners_[id].key; }
  const std::string& OwnerContainerId(OwnerId id) const {
    return owners_[id].container_id;
  }
  // Interns an owner identity key (as persisted with findings).
  OwnerId InternKey(const std::string& key, absl::string_view container_id);

  // The id the next inserted interval will get: every interval recorded
  // from now on has an id >= this.
  IntervalId next_id() const { return next_id_; }
  // Bumped by every change; lets readers notice that history moved.
  uint64_t generation() const { return generation_; }
  size_t address_count() const { return records_.size(); }
  size_t interval_count() const { return interval_count_; }

  // Calls `fn(const OwnershipInterval&)` for every interval (tests, dumps).
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const auto& [address, record] : records_) {
      for (const OwnershipInterval& interval : record.intervals) fn(interval);
    }
  }

 private:
  struct OwnerEntry {
    std::string key;
    std::string container_id;
  };

  OwnerId Intern(const v1::AddressOwner& owner);
  void Attach(absl::string_view reporter, v1::AddressEventSource source,
              absl::Time time, const v1::AddressOwner& owner,
              HistoryChanges* changes);
  void Detach(v1::AddressEventSource source, absl::Time time,
              const v1::AddressOwner& owner, HistoryChanges* changes);
  // Closes `interval` (open, in `record`) at `time` for `reason`.
  static void Close(OwnershipInterval& interval, AddressRecord& record,
                    absl::Time time, v1::CloseReason reason,
                    EndEvidence evidence, HistoryChanges* changes);
  void Inventory(absl::string_view reporter, const v1::AddressEvent& event,
                 HistoryChanges* changes);
  void Insert(OwnershipInterval interval);
  OwnershipInterval* FindById(const std::string& address, IntervalId id);
  void Recount(AddressRecord* record);

  absl::flat_hash_map<std::string, AddressRecord> records_;
  absl::flat_hash_map<std::string, OwnerId> owner_ids_;
  std::vector<OwnerEntry> owners_;
  IntervalId next_id_ = 1;
  uint64_t generation_ = 0;
  size_t interval_count_ = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_ADDRESS_HISTORY_H_
