// Renders query answers for people (tables, one-line stories) and for
// machines (the proto3 JSON mapping with proto field names, docs/DESIGN.md's
// public names). Pure functions of their arguments; thread-safe.
#ifndef GHOSTPEER_CLI_RENDER_H_
#define GHOSTPEER_CLI_RENDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"
#include "google/protobuf/message.h"

namespace ghostpeer::cli {

struct RenderOptions {
  // Ages ("3m ago") are measured against this.
  absl::Time now;
  // Wall-clock times are printed in this zone.
  absl::TimeZone zone = absl::UTCTimeZone();
  // `-o wide`: more columns (ids, local side, tcp_info, container id) and no
  // truncation of long names.
  bool wide = false;
};

enum class JsonStyle {
  kDocument,  // indented, for a whole answer
  kLine,      // one line, for a stream of objects (`watch -o json`)
};

// `message` in the proto3 JSON mapping with the proto field names. Fields at
// their default value are printed too, so every documented key is always
// present for scripts. Internal if protobuf refuses (it should not for our
// own messages).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonStyle style);

// The findings table (most severe first, then most bytes at risk), then a
// blank line and one story per finding in the same order, each followed by
// "  remediation: <what was done>" when the aggregator decided something
// about it (Finding.remediation). Adds a STATUS column when any finding is
// not open. Empty string when there are none.
std::string RenderFindings(const v1::ListFindingsResponse& response,
                           const RenderOptions& options);

// `check`'s brief list: one line per finding, "CRITICAL  vanished  <story>",
// most severe first.
std::string RenderFindingLines(const v1::ListFindingsResponse& response,
                               const RenderOptions& options);

// The sockets table, in the server's order, and a note when the server
// truncated the answer. Empty string when there are no sockets.
std::string RenderSockets(const v1::ListSocketsResponse& response,
                          const RenderOptions& options);

// The nodes table, sorted by node name, with whether each agent acts on
// remediation orders ("on", "off: <why>"). Empty string when there are
// none.
std::string RenderNodes(const v1::ListNodesResponse& response,
                        const RenderOptions& options);

// One line for `watch`: the event's own time (first seen for OPENED, last
// seen for UPDATED, resolved for CLOSED; `options.now` when unset), the
// event type, severity, kind and story, ending in '\n'.
std::string RenderFindingEvent(const v1::FindingEvent& event,
                               const RenderOptions& options);

// The remediation records table, in the server's order (newest first):
// WHEN (decided), NODE, CLIENT (task, container or service; else the
// process), PEER, MODE, BY ("policy" or "manual: ..."), DECISION, OUTCOME
// (the agent's answer; "pending" while an order waits for it), DETAIL (the
// outcome's detail and errno, else the decision's reason). -o wide adds the
// record and finding ids, SENDS and when the outcome arrived. Empty string
// when there are none.
std::string RenderRemediations(const v1::ListRemediationsResponse& response,
                               const RenderOptions& options);

// What `remediate` prints for the decision the aggregator recorded: a first
// line that says it plainly ("ordered: ...", "would destroy: ...",
// "refused: <reason>"), then the record's id and how to follow it.
std::string RenderRemediationDecision(const v1::Remediation& remediation,
                                      const RenderOptions& options);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_RENDER_H_
