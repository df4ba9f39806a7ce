// The remediation policy (issue 11): whether ghostpeer may destroy the
// client socket of a finding, and in which mode. Pure: the finding, the
// facts about its node and the request in, a decision out; no clock, no
// I/O. The coordinator (coordinator.h) gathers the input, applies the rate
// limits (rate_limiter.h) to what the policy would order, records and acts.
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_POLICY_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_POLICY_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator::remediation {

// A node's report counts as stale, and its sockets are never touched, when
// it is older than this many report intervals.
inline constexpr int kStaleIntervals = 3;
// The interval assumed when the node's own spacing is not known yet (one
// snapshot so far): the agent's default --interval. A node reporting more
// slowly is then judged stale sooner, which errs on the safe side.
inline constexpr absl::Duration kDefaultReportInterval = absl::Seconds(5);

// "off", "dry-run", "auto" (the flag's and the label's words) -> mode;
// nullopt for anything else (surrounding spaces and case are not forgiven:
// a label that does not say exactly what it means is no choice).
std::optional<v1::RemediationMode> ParseMode(absl::string_view text);
// The inverse: "off", "dry-run", "auto"; "unspecified" otherwise.
const char* ModeName(v1::RemediationMode mode);

// What the policy knows about the client's node.
struct NodeFacts {
  // The aggregator knows the node (an agent said hello or reported).
  bool known = false;
  // From the agent's latest Hello.
  bool remediation_enabled = false;
  std::string remediation_refusal;
  // When its latest snapshot arrived (aggregator clock); InfinitePast: never.
  absl::Time last_report = absl::InfinitePast();
  // The spacing of its latest two snapshots; zero when unknown (then
  // kDefaultReportInterval applies).
  absl::Duration report_interval = absl::ZeroDuration();
};

struct PolicyInput {
  const v1::Finding* finding = nullptr;  // required
  NodeFacts node;
  absl::Time now;
  // --remediation: the aggregator's default (OFF also switches every
  // service label off: the operator's kill switch).
  v1::RemediationMode aggregator_mode = v1::REMEDIATION_MODE_DRY_RUN;
  // The client's service's ghostpeer.remediation label as Docker holds it;
  // empty when the socket has no service or the service no label. Anything
  // but a ParseMode word is ignored (the flag decides) and said in the
  // reason.
  std::string service_label;
  // A person asked (ghostpeer remediate), rather than the policy reacting
  // to a finding change.
  bool manual = false;
  // The person asked for a dry run (manual only).
  bool dry_run = false;
};

struct PolicyDecision {
  // ORDERED (send an order, dry_run_order false), WOULD_DESTROY (nothing
  // destroyed; `dry_run_order` says whether the agent should still run its
  // re-check), DECLINED. RATE_LIMITED is the coordinator's.
  v1::RemediationDecision decision = v1::REMEDIATION_DECISION_DECLINED;
  // The mode that applied (label or flag).
  v1::RemediationMode mode = v1::REMEDIATION_MODE_UNSPECIFIED;
  // For people: the guard that refused, or why it qualifies.
  std::string reason;
  // DECLINED: which guard, as a stable word ("mode_off", "label_off",
  // "resolved", "kind", "loopback", "identity", "no_data", "absence",
  // "node_unknown", "stale", "agent_disabled"), so the coordinator can
  // tell a new situation from the same one described at another time.
  std::string guard;
  // The address that must be held by nobody: the backend behind a VIP,
  // else the remote address.
  std::string peer_ip;
  bool dry_run_order = false;
};

// The rules (docs/DESIGN.md "Remediation"), checked in this order; the
// first that refuses is the DECLINED reason:
//  1. Mode: the label's (when valid) or the flag's; the flag's OFF wins
//     over every label. OFF refuses everything, a person's request too.
//  2. The finding is OPEN.
//  3. Kind: VANISHED_PEER qualifies; REASSIGNED_PEER only for a service
//     labelled auto (someone answers at that address: destroying is only
//     right when the service's owner said so); CLOSE_WAIT_WRITER never
//     (its peer may well be alive).
//  4. Never loopback (local, remote or backend address).
//  5. The socket is exactly identifiable: TCP or UDP with an inode, a
//     sock_diag cookie and a namespace (records read from /proc have no
//     cookie: the agent could not match one socket for certain).
//  6. Data: the socket still carries data or is being written to — the
//     detector's CRITICAL (data waits, or the application wrote since the
//     previous snapshot) or a send queue / unacknowledged segments / unsent
//     bytes in the record. A quiet ghost is reported, not destroyed: its
//     application will learn on its next write anyway, after the kernel's
//     retries, and nothing is lost meanwhile.
//  7. Departure evidence: the peer's last owner ended for a reason someone
//     saw (CONTAINER_DIED: Docker's die/destroy; TASK_ENDED: the tasks API;
//     NODE_LOST: the managers marked the node down and its agent fell
//     silent; DETACHED: the owner's own node read its complete address
//     list without the address, or Docker reported a network disconnect).
//     NOT_IN_INVENTORY (it left while its node was not reporting) and
//     UNSPECIFIED (closed by an older build, or not at all) rest on absence
//     of evidence: declined. A REASSIGNED_PEER whose current holder is
//     known rests on that holder's presence instead.
//     Why close_reason and not the history's EndEvidence: EndEvidence is
//     memory-only (intervals loaded after a restart count as kAbsence), so
//     it would decide differently before and after a restart; close_reason
//     is persisted and says what was seen.
//  8. The node: known, and its latest report no older than kStaleIntervals
//     report intervals at `now` (a stale view may show a socket that was
//     closed or reused since).
//  9. The agent acts on orders (Hello.remediation_enabled). In dry-run
//     (not a person's real request) this only notes that the agent would
//     refuse: nothing would be sent anyway.
// Then: dry-run mode (not overridden by a person), or a person's dry run
// -> WOULD_DESTROY; else ORDERED. A person's request under dry-run acts
// for real (someone looked and asked) unless the person asked for a dry
// run.
PolicyDecision Decide(const PolicyInput& input);

}  // namespace ghostpeer::aggregator::remediation

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_POLICY_H_
