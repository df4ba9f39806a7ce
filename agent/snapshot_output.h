// Presenting a NodeSnapshot to people (an ss-like table) and machines (the
// proto3 JSON mapping with proto field names). Pure, thread-safe.
#ifndef GHOSTPEER_AGENT_SNAPSHOT_OUTPUT_H_
#define GHOSTPEER_AGENT_SNAPSHOT_OUTPUT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

enum class SortKey {
  kSendQueue,  // descending: data piling up toward a dead peer comes first
  kRecvQueue,  // descending
  kBackoff,    // descending tcp_info.backoff, then send queue
  kState,
  kLocal,
  kRemote,
  kPid,
  kNone,  // kernel order
};

// "send-queue", "recv-queue", "backoff", "state", "local", "remote", "pid",
// "none". nullopt for anything else.
std::optional<SortKey> ParseSortKey(absl::string_view name);

struct OutputOptions {
  SortKey sort = SortKey::kSendQueue;
  std::vector<v1::TcpState> states;  // keep only these; empty: all
};

// Drops sockets whose state is not in `options.states` (when given) and
// sorts the rest by `options.sort` (ties by remote then local endpoint, so
// the order is deterministic). stats.sockets is left as captured.
void FilterAndSort(const OutputOptions& options, v1::NodeSnapshot* snapshot);

// One JSON document ending in a newline, proto field names, enums as
// names (CLOSE_WAIT appears as "TCP_STATE_CLOSE_WAIT"), zero values
// included.
std::string FormatSnapshotJson(const v1::NodeSnapshot& snapshot);

// A table for people: one line per socket with state, queues, endpoints
// (a translated peer as "VIP:port -> backend:port"), namespace ("host", the
// container's name or short id, the netns name, or "netns:<inode>"),
// process ("comm/pid") and the hints that reveal a dead peer (what
// translated it, backoff, unacked, retransmissions, not-sent bytes, time
// since the last ACK); then one line per namespace that failed or fell
// back, whose translations could not be read, or whose IPVS black-holes
// connections to removed backends (expire_nodest_conn=0), one line when
// the node cannot see through VIPs (translation_status), and a summary
// line.
std::string FormatSnapshotTable(const v1::NodeSnapshot& snapshot);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_SNAPSHOT_OUTPUT_H_
