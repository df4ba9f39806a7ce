// TCP state names as people know them from `ss`. Pure, thread-safe.
#ifndef GHOSTPEER_AGENT_TCP_STATE_H_
#define GHOSTPEER_AGENT_TCP_STATE_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

// `ss`'s short name: "ESTAB", "CLOSE-WAIT", "TIME-WAIT", ... and "UNKNOWN"
// for TCP_STATE_UNSPECIFIED or a value outside the enum.
absl::string_view TcpStateShortName(v1::TcpState state);

// Parses a state name in any of the spellings people type: "close-wait",
// "CLOSE_WAIT", "TCP_STATE_CLOSE_WAIT", "estab" / "established" (case
// insensitive). Returns nullopt for anything else.
std::optional<v1::TcpState> ParseTcpStateName(absl::string_view name);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_TCP_STATE_H_
