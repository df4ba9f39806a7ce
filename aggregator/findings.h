// The lifecycle of findings: OPEN when a snapshot first shows the evidence,
// UPDATED when what it says changes, RESOLVED when the evidence or the
// socket goes away. Pure: the caller supplies `now`.
#ifndef GHOSTPEER_AGGREGATOR_FINDINGS_H_
#define GHOSTPEER_AGGREGATOR_FINDINGS_H_

#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/time/time.h"
#include "aggregator/detector.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator {

struct TrackedFinding {
  v1::Finding finding;
  std::string memory;  // detector memory of the connection, persisted with it
  // When the store last took this finding (InfinitePast: never).
  absl::Time saved_at = absl::InfinitePast();
};

// One node's findings, open and resolved, by id (sorted: deterministic).
using FindingMap = absl::btree_map<std::string, TrackedFinding>;

struct FindingChange {
  // OPENED, UPDATED, CLOSED; FINDING_EVENT_TYPE_UNSPECIFIED when only
  // last_seen and the memory moved (store it, tell nobody).
  v1::FindingEventType type = v1::FINDING_EVENT_TYPE_UNSPECIFIED;
  std::string id;
  // UPDATED only: this snapshot changed the finding's kind (from
  // Finding.previous_kind).
  bool kind_changed = false;
};

// Merges one snapshot's detections into `findings`:
// * new id, or an id whose finding was RESOLVED -> OPEN with first_seen =
//   last_seen = now (a socket that shows the evidence again starts a new
//   episode under the same id; resolved_at is cleared), OPENED;
// * open id -> last_seen = now, first_seen kept; UPDATED when the kind,
//   severity, bytes_at_risk, the socket's state or any owner changed, else
//   a silent change. A changed kind sets previous_kind to the kind it had
//   (kept on later updates of the episode) and the story is told again,
//   at `now`, to say so; the remediation summary (Finding.remediation) is
//   kept: it is the episode's, set by the remediation coordinator;
// * open findings not detected -> RESOLVED at now, CLOSED.
// One finding per socket (detector.h): a detection whose id has no open
// finding continues the open finding of the same node and socket under an
// older id, if there is one (ids of builds that hashed the kind; of two,
// the one of the same kind), so an upgrade neither closes nor reopens it.
// Returns every finding touched, in id order.
std::vector<FindingChange> ReconcileFindings(
    std::vector<DetectedFinding> detected, absl::Time now,
    FindingMap* findings);

// Resolves every open finding at `now` (the node was forgotten). Returns
// the CLOSED changes in id order.
std::vector<FindingChange> ResolveAll(absl::Time now, FindingMap* findings);

// Removes resolved findings resolved before `horizon`. Returns how many.
size_t ForgetResolvedBefore(absl::Time horizon, FindingMap* findings);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_FINDINGS_H_
