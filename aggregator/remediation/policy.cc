#include "aggregator/remediation/policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aggregator/ip_address.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::remediation {
namespace {

bool Loopback(const std::string& address) {
  if (address.empty()) return false;
  absl::StatusOr<std::string> canonical = NormalizeIpAddress(address);
  // An address that does not parse was never judged by the detector
  // either; refusing it is the safe reading.
  return !canonical.ok() || IsLoopbackIpAddress(*canonical);
}

bool CarriesData(const v1::Finding& finding) {
  if (finding.severity() == v1::CRITICAL) return true;
  const v1::SocketRecord& socket = finding.socket();
  if (socket.send_queue() > 0) return true;
  return socket.has_tcp_info() && (socket.tcp_info().unacked() > 0 ||
                                   socket.tcp_info().notsent_bytes() > 0);
}

// Whether the close reason reports a departure someone saw.
bool Witnessed(v1::CloseReason reason) {
  switch (reason) {
    case v1::CLOSE_REASON_DETACHED:
    case v1::CLOSE_REASON_CONTAINER_DIED:
    case v1::CLOSE_REASON_TASK_ENDED:
    case v1::CLOSE_REASON_NODE_LOST:
      return true;
    default:
      return false;
  }
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(d));
}

PolicyDecision Declined(PolicyDecision decision, const char* guard,
                        std::string reason) {
  decision.decision = v1::REMEDIATION_DECISION_DECLINED;
  decision.guard = guard;
  decision.reason = std::move(reason);
  decision.dry_run_order = false;
  return decision;
}

}  // namespace

std::optional<v1::RemediationMode> ParseMode(absl::string_view text) {
  if (text == "off") return v1::REMEDIATION_MODE_OFF;
  if (text == "dry-run") return v1::REMEDIATION_MODE_DRY_RUN;
  if (text == "auto") return v1::REMEDIATION_MODE_AUTO;
  return std::nullopt;
}

const char* ModeName(v1::RemediationMode mode) {
  switch (mode) {
    case v1::REMEDIATION_MODE_OFF:
      return "off";
    case v1::REMEDIATION_MODE_DRY_RUN:
      return "dry-run";
    case v1::REMEDIATION_MODE_AUTO:
      return "auto";
    default:
      return "unspecified";
  }
}

PolicyDecision Decide(const PolicyInput& input) {
  const v1::Finding& finding = *input.finding;
  const v1::SocketRecord& socket = finding.socket();
  PolicyDecision out;
  out.peer_ip =
      socket.backend_ip().empty() ? socket.remote_ip() : socket.backend_ip();

  // 1. Mode.
  const std::optional<v1::RemediationMode> label =
      input.service_label.empty() ? std::nullopt
                                  : ParseMode(input.service_label);
  std::string label_note;
  if (!input.service_label.empty() && !label.has_value()) {
    label_note =
        absl::StrCat("; the label ghostpeer.remediation of service ",
                     socket.service(), " is not auto, dry-run or off: ignored");
  }
  if (input.aggregator_mode == v1::REMEDIATION_MODE_OFF) {
    out.mode = v1::REMEDIATION_MODE_OFF;
    return Declined(out, "mode_off", "remediation is off (--remediation off)");
  }
  out.mode = label.value_or(input.aggregator_mode);
  if (out.mode == v1::REMEDIATION_MODE_UNSPECIFIED) {
    out.mode = v1::REMEDIATION_MODE_DRY_RUN;
  }
  if (out.mode == v1::REMEDIATION_MODE_OFF) {
    return Declined(out, "label_off",
                    absl::StrCat("service ", socket.service(),
                                 " is labelled ghostpeer.remediation=off"));
  }
  const bool labelled_auto = label == v1::REMEDIATION_MODE_AUTO;

  // 2. Open.
  if (finding.status() != v1::OPEN) {
    return Declined(out, "resolved", "the finding is resolved");
  }
  // 3. Kind.
  switch (finding.kind()) {
    case v1::VANISHED_PEER:
      break;
    case v1::REASSIGNED_PEER:
      if (!labelled_auto) {
        return Declined(
            out, "kind",
            absl::StrCat("a reassigned peer (someone else answers at ",
                         out.peer_ip,
                         ") is remediated only for a service labelled "
                         "ghostpeer.remediation=auto",
                         label_note));
      }
      break;
    case v1::CLOSE_WAIT_WRITER:
      return Declined(out, "kind",
                      "a close-wait writer's peer may be alive: never "
                      "remediated");
    default:
      return Declined(out, "kind", "unknown finding kind");
  }
  // 4. Loopback.
  if (Loopback(socket.local_ip()) || Loopback(socket.remote_ip()) ||
      Loopback(socket.backend_ip())) {
    return Declined(out, "loopback", "a loopback connection: never remediated");
  }
  // 5. Identity.
  if (socket.cookie() == 0 || socket.inode() == 0 ||
      socket.netns_inode() == 0) {
    return Declined(out, "identity",
                    "the socket has no cookie, inode or namespace (read from "
                    "/proc, or orphaned): the agent could not match exactly "
                    "this socket");
  }
  // 6. Data.
  if (!CarriesData(finding)) {
    return Declined(
        out, "no_data",
        socket.protocol() == v1::PROTOCOL_UDP
            ? "a UDP socket: nothing says it still carries data"
            : "no data waiting and no write since the previous snapshot: "
              "nothing is being lost yet");
  }
  // 7. Departure evidence.
  const bool holder_known = finding.kind() == v1::REASSIGNED_PEER &&
                            finding.has_peer_current_owner() &&
                            !finding.peer_current_owner().address().empty();
  if (!holder_known) {
    const v1::AddressOwner& last = finding.peer_last_owner();
    if (!last.has_until() || !Witnessed(last.close_reason())) {
      const char* why =
          last.close_reason() == v1::CLOSE_REASON_NOT_IN_INVENTORY
              ? "its owner left while its node was not reporting (missing "
                "from a later inventory)"
              : "no departure was reported for its last owner";
      return Declined(out, "absence",
                      absl::StrCat("the peer's departure rests on absence of "
                                   "evidence: ",
                                   why));
    }
  }
  // 8. The node's view.
  if (!input.node.known || input.node.last_report == absl::InfinitePast()) {
    return Declined(out, "node_unknown",
                    absl::StrCat("node ", socket.node(),
                                 " has not reported in this aggregator"));
  }
  const absl::Duration interval =
      input.node.report_interval > absl::ZeroDuration()
          ? input.node.report_interval
          : kDefaultReportInterval;
  const absl::Duration age = input.now - input.node.last_report;
  if (age > kStaleIntervals * interval) {
    return Declined(
        out, "stale",
        absl::StrCat("node ", socket.node(), "'s latest report is ",
                     Seconds(age), " old, more than ", kStaleIntervals,
                     " report intervals (", Seconds(interval), " each)"));
  }
  // 9. The agent, and the verdict.
  const bool dry_run =
      input.manual ? input.dry_run : out.mode == v1::REMEDIATION_MODE_DRY_RUN;
  std::string agent_note;
  if (!input.node.remediation_enabled) {
    const std::string refusal = input.node.remediation_refusal.empty()
                                    ? "remediation disabled"
                                    : input.node.remediation_refusal;
    if (!dry_run) {
      return Declined(
          out, "agent_disabled",
          absl::StrCat("node ", socket.node(),
                       "'s agent does not act on orders: ", refusal));
    }
    agent_note = absl::StrCat("; node ", socket.node(),
                              "'s agent would refuse: ", refusal);
  }
  const std::string why =
      finding.kind() == v1::VANISHED_PEER
          ? absl::StrCat("writing to vanished ", out.peer_ip)
          : absl::StrCat("writing to ", out.peer_ip,
                         ", now someone else's (service labelled auto)");
  if (dry_run) {
    out.decision = v1::REMEDIATION_DECISION_WOULD_DESTROY;
    out.dry_run_order = input.manual && input.node.remediation_enabled;
    out.reason =
        absl::StrCat(why, input.manual ? " (dry run asked)" : " (dry-run mode)",
                     agent_note, label_note);
    return out;
  }
  out.decision = v1::REMEDIATION_DECISION_ORDERED;
  out.reason = absl::StrCat(why, label_note);
  return out;
}

}  // namespace ghostpeer::aggregator::remediation
