// Parsers for the values people type on the command line, and the short
// names ghostpeer prints back for the same enums. Pure; thread-safe.
//
// Every parser is case-insensitive, accepts '-' and '_' alike, and returns
// InvalidArgument with a message that lists what it would have accepted.
#ifndef GHOSTPEER_CLI_FLAG_VALUES_H_
#define GHOSTPEER_CLI_FLAG_VALUES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::cli {

enum class OutputFormat { kTable, kJson, kWide };

// "table", "json", "wide".
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// "info", "warning" (or "warn"), "critical" (or "crit"); also the proto
// enum names.
absl::StatusOr<v1::Severity> ParseSeverity(absl::string_view text);

// "vanished", "reassigned", "close-wait-writer"; also the proto enum names
// ("VANISHED_PEER", ...).
absl::StatusOr<v1::FindingKind> ParseFindingKind(absl::string_view text);

// "open", "resolved", or "all" (FINDING_STATUS_UNSPECIFIED: no filter).
absl::StatusOr<v1::FindingStatus> ParseFindingStatus(absl::string_view text);

// A kernel TCP state as `ss` or the proto spells it: "close-wait",
// "CLOSE_WAIT", "estab", "established", "TCP_STATE_SYN_SENT", ...
absl::StatusOr<v1::TcpState> ParseTcpState(absl::string_view text);

// An RPC deadline: an absl duration ("10s", "1500ms", "1m") or a plain
// number of seconds ("30"). Must be positive.
absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text);

// A numeric IPv4 or IPv6 address (no port, no brackets, no host name),
// returned in canonical text form ("::ffff:a00:1" style for v6).
absl::StatusOr<std::string> ParseIpAddress(absl::string_view text);

// A finding id as `findings -o wide` shows it: 16 hex digits, returned in
// lower case (the aggregator's spelling).
absl::StatusOr<std::string> ParseFindingId(absl::string_view text);

// The names ghostpeer prints: the flag spellings above for kinds
// ("vanished"), the kernel's for states ("CLOSE_WAIT"), upper case for
// severities ("CRITICAL"). "?" for values this build does not know.
std::string KindName(v1::FindingKind kind);
std::string SeverityName(v1::Severity severity);
std::string StatusName(v1::FindingStatus status);
std::string StateName(v1::TcpState state);
std::string OwnerKindName(v1::OwnerKind kind);
// Why an interval ended: "node-lost", "container-died", ...; "?" when the
// aggregator did not record it (closed by an older build).
std::string CloseReasonName(v1::CloseReason reason);
std::string EventTypeName(v1::FindingEventType type);
// Remediation records: "off", "dry-run", "auto"; "ordered", "would
// destroy", "declined", "rate-limited"; "destroyed", "already gone",
// "refused", "failed", "would destroy" ("-" for no outcome yet).
std::string RemediationModeName(v1::RemediationMode mode);
std::string RemediationDecisionName(v1::RemediationDecision decision);
std::string RemediationOutcomeName(v1::RemediationOutcomeKind outcome);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_FLAG_VALUES_H_
