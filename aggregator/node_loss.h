// When a node is lost, and when its addresses stopped being held: the
// managers' view of the swarm (reported by a manager's agent) joined with
// what the aggregator heard from the node's own agent. Pure: no clock, no
// I/O; the Engine feeds it and acts on the answer (AddressHistory::CloseNode).
#ifndef GHOSTPEER_AGGREGATOR_NODE_LOSS_H_
#define GHOSTPEER_AGGREGATOR_NODE_LOSS_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

// One swarm node as the managers last saw it.
struct ManagersView {
  v1::SwarmNode node;       // validated (times clamped to the aggregator's)
  std::string reported_by;  // the manager node whose agent reported it
  absl::Time received_at;   // aggregator time of that report
};

// What the aggregator heard from the node's own agent.
struct AgentPresence {
  // Aggregator time anything last arrived from it; for a node no agent has
  // spoken for since this aggregator started, its start time (an agent may
  // be about to reconnect: the wait applies to it too).
  absl::Time last_contact = absl::InfinitePast();
  // Its latest snapshot's own time (its clock): it vouched for what it held
  // up to then. InfinitePast when it never reported.
  absl::Time last_taken_at = absl::InfinitePast();
};

struct NodeLossOptions {
  // How long the node's agent must have been silent: well past a few
  // missed snapshots (5 s apart by default) and within the time swarm
  // itself takes to reschedule (~18 s after a link cut, of which ~13 s
  // until it marks the node down).
  absl::Duration silence = absl::Seconds(15);
};

// The rule (docs/DESIGN.md "Node loss"; issue 9). A node is lost when both
//   (a) the managers mark it DOWN — their heartbeats failed, and swarm
//       reschedules its tasks; and
//   (b) its agent has been silent for at least `options.silence`.
// Neither alone is enough: a silent agent is an agent restart or a short
// partition (the managers keep the node READY, its containers run on), and
// a DOWN node whose agent still reports holds what it reports.
//
// Its addresses stopped being held when the managers marked it down
// (SwarmNode.state_since, their UpdatedAt) — the moment the cluster gave up
// on it and the latest time the evidence supports, so a peer that answered
// before then is never taken for a stranger — but never before its agent's
// last snapshot (it vouched for them then) nor after `now`. Without a
// state_since, the time the managers' view was observed, else `now`.
//
// Returns that time when the node is lost, nullopt otherwise.
std::optional<absl::Time> NodeLostAt(const ManagersView& view,
                                     const AgentPresence& agent, absl::Time now,
                                     const NodeLossOptions& options);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_NODE_LOSS_H_
