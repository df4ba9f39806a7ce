#include "aggregator/node_loss.h"

#include <algorithm>

#include "common/time_util.h"

namespace ghostpeer::aggregator {

std::optional<absl::Time> NodeLostAt(const ManagersView& view,
                                     const AgentPresence& agent, absl::Time now,
                                     const NodeLossOptions& options) {
  if (view.node.state() != v1::SWARM_NODE_STATE_DOWN) return std::nullopt;
  if (now - agent.last_contact < options.silence) return std::nullopt;
  absl::Time at = now;
  if (view.node.has_state_since()) {
    at = FromProto(view.node.state_since());
  } else if (view.node.has_observed_at()) {
    at = FromProto(view.node.observed_at());
  }
  at = std::max(at, agent.last_taken_at);
  return std::min(at, now);
}

}  // namespace ghostpeer::aggregator
