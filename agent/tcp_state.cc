#include "agent/tcp_state.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

namespace ghostpeer::agent {

absl::string_view TcpStateShortName(v1::TcpState state) {
  switch (state) {
    case v1::TCP_STATE_ESTABLISHED:
      return "ESTAB";
    case v1::TCP_STATE_SYN_SENT:
      return "SYN-SENT";
    case v1::TCP_STATE_SYN_RECV:
      return "SYN-RECV";
    case v1::TCP_STATE_FIN_WAIT1:
      return "FIN-WAIT-1";
    case v1::TCP_STATE_FIN_WAIT2:
      return "FIN-WAIT-2";
    case v1::TCP_STATE_TIME_WAIT:
      return "TIME-WAIT";
    case v1::TCP_STATE_CLOSE:
      return "UNCONN";
    case v1::TCP_STATE_CLOSE_WAIT:
      return "CLOSE-WAIT";
    case v1::TCP_STATE_LAST_ACK:
      return "LAST-ACK";
    case v1::TCP_STATE_LISTEN:
      return "LISTEN";
    case v1::TCP_STATE_CLOSING:
      return "CLOSING";
    case v1::TCP_STATE_NEW_SYN_RECV:
      return "NEW-SYN-RECV";
    default:
      return "UNKNOWN";
  }
}

std::optional<v1::TcpState> ParseTcpStateName(absl::string_view name) {
  // Normalise to the enum's spelling: upper case, '_' separators, prefix.
  std::string normal = absl::AsciiStrToUpper(name);
  absl::StrReplaceAll({{"-", "_"}}, &normal);
  if (!absl::StartsWith(normal, "TCP_STATE_")) {
    normal = "TCP_STATE_" + normal;
  }
  if (normal == "TCP_STATE_ESTAB") return v1::TCP_STATE_ESTABLISHED;
  if (normal == "TCP_STATE_FIN_WAIT_1") return v1::TCP_STATE_FIN_WAIT1;
  if (normal == "TCP_STATE_FIN_WAIT_2") return v1::TCP_STATE_FIN_WAIT2;
  if (normal == "TCP_STATE_UNCONN") return v1::TCP_STATE_CLOSE;
  v1::TcpState state;
  if (!v1::TcpState_Parse(normal, &state) ||
      state == v1::TCP_STATE_UNSPECIFIED) {
    return std::nullopt;
  }
  return state;
}

}  // namespace ghostpeer::agent
