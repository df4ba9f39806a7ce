#include "cli/flag_values.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/names.h"

namespace ghostpeer::cli {
namespace {

// Upper case, '-' as '_', surrounding blanks dropped: the one spelling the
// tables below are keyed by.
std::string Normalize(absl::string_view text) {
  std::string out = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

template <typename Enum>
struct Spelling {
  const char* name;
  Enum value;
};

template <typename Enum, size_t N>
absl::StatusOr<Enum> Lookup(absl::string_view what, absl::string_view text,
                            const Spelling<Enum> (&spellings)[N],
                            absl::string_view accepted) {
  const std::string key = Normalize(text);
  for (const auto& spelling : spellings) {
    if (key == spelling.name) return spelling.value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad ", what, " '", text, "': want ", accepted));
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  static constexpr Spelling<OutputFormat> kSpellings[] = {
      {"TABLE", OutputFormat::kTable},
      {"JSON", OutputFormat::kJson},
      {"WIDE", OutputFormat::kWide},
  };
  return Lookup("output format", text, kSpellings, "table, json or wide");
}

absl::StatusOr<v1::Severity> ParseSeverity(absl::string_view text) {
  static constexpr Spelling<v1::Severity> kSpellings[] = {
      {"INFO", v1::INFO},     {"WARNING", v1::WARNING},
      {"WARN", v1::WARNING},  {"CRITICAL", v1::CRITICAL},
      {"CRIT", v1::CRITICAL},
  };
  return Lookup("severity", text, kSpellings, "info, warning or critical");
}

absl::StatusOr<v1::FindingKind> ParseFindingKind(absl::string_view text) {
  static constexpr Spelling<v1::FindingKind> kSpellings[] = {
      {"VANISHED", v1::VANISHED_PEER},
      {"VANISHED_PEER", v1::VANISHED_PEER},
      {"REASSIGNED", v1::REASSIGNED_PEER},
      {"REASSIGNED_PEER", v1::REASSIGNED_PEER},
      {"CLOSE_WAIT_WRITER", v1::CLOSE_WAIT_WRITER},
  };
  return Lookup("finding kind", text, kSpellings,
                "vanished, reassigned or close-wait-writer");
}

absl::StatusOr<v1::FindingStatus> ParseFindingStatus(absl::string_view text) {
  static constexpr Spelling<v1::FindingStatus> kSpellings[] = {
      {"OPEN", v1::OPEN},
      {"RESOLVED", v1::RESOLVED},
      {"ALL", v1::FINDING_STATUS_UNSPECIFIED},
  };
  return Lookup("finding status", text, kSpellings, "open, resolved or all");
}

absl::StatusOr<v1::TcpState> ParseTcpState(absl::string_view text) {
  const std::string key = Normalize(text);
  std::string name(absl::StripPrefix(key, "TCP_STATE_"));
  // ss's abbreviations, so that what people type after reading `ss` works.
  static constexpr std::pair<const char*, const char*> kAliases[] = {
      {"ESTAB", "ESTABLISHED"},    {"SYN_RECEIVED", "SYN_RECV"},
      {"FIN_WAIT_1", "FIN_WAIT1"}, {"FIN_WAIT_2", "FIN_WAIT2"},
      {"CLOSED", "CLOSE"},         {"LISTENING", "LISTEN"},
  };
  for (const auto& [alias, canonical] : kAliases) {
    if (name == alias) name = canonical;
  }
  v1::TcpState state = v1::TCP_STATE_UNSPECIFIED;
  if (name != "UNSPECIFIED" &&
      v1::TcpState_Parse(absl::StrCat("TCP_STATE_", name), &state)) {
    return state;
  }
  std::vector<std::string> accepted;
  for (int value = v1::TcpState_MIN + 1; value <= v1::TcpState_MAX; ++value) {
    if (v1::TcpState_IsValid(value)) {
      accepted.push_back(
          absl::AsciiStrToLower(StateName(static_cast<v1::TcpState>(value))));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad TCP state '", text, "': want one of ",
                   absl::StrJoin(accepted, ", ")));
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  absl::Duration timeout;
  double seconds = 0;
  if (absl::SimpleAtod(trimmed, &seconds) && std::isfinite(seconds)) {
    timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(trimmed, &timeout)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad timeout '", text, "': want a duration such as 10s, 1500ms or 1m"));
  }
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad timeout '", text, "': must be positive and finite"));
  }
  return timeout;
}

absl::StatusOr<std::string> ParseIpAddress(absl::string_view text) {
  const std::string address(absl::StripAsciiWhitespace(text));
  char canonical[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1 &&
      inet_ntop(AF_INET, &v4, canonical, sizeof(canonical)) != nullptr) {
    return std::string(canonical);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1 &&
      inet_ntop(AF_INET6, &v6, canonical, sizeof(canonical)) != nullptr) {
    return std::string(canonical);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bad address '", text,
      "': want a numeric IPv4 or IPv6 address such as 10.0.1.6 or fd00::6"));
}

absl::StatusOr<std::string> ParseFindingId(absl::string_view text) {
  constexpr size_t kLength = 16;
  std::string id(absl::StripAsciiWhitespace(text));
  const bool hex = std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (id.size() != kLength || !hex) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad finding id '", Printable(text.substr(0, 40)), "': want ", kLength,
        " hex digits, as the ID column of `ghostpeer findings -o "
        "wide` shows them"));
  }
  absl::AsciiStrToLower(&id);
  return id;
}

std::string KindName(v1::FindingKind kind) {
  switch (kind) {
    case v1::VANISHED_PEER:
      return "vanished";
    case v1::REASSIGNED_PEER:
      return "reassigned";
    case v1::CLOSE_WAIT_WRITER:
      return "close-wait-writer";
    default:
      return "?";
  }
}

std::string SeverityName(v1::Severity severity) {
  switch (severity) {
    case v1::INFO:
      return "INFO";
    case v1::WARNING:
      return "WARNING";
    case v1::CRITICAL:
      return "CRITICAL";
    default:
      return "?";
  }
}

std::string StatusName(v1::FindingStatus status) {
  switch (status) {
    case v1::OPEN:
      return "open";
    case v1::RESOLVED:
      return "resolved";
    default:
      return "?";
  }
}

std::string StateName(v1::TcpState state) {
  if (state == v1::TCP_STATE_UNSPECIFIED || !v1::TcpState_IsValid(state)) {
    return "?";
  }
  return std::string(absl::StripPrefix(v1::TcpState_Name(state), "TCP_STATE_"));
}

std::string OwnerKindName(v1::OwnerKind kind) {
  switch (kind) {
    case v1::OWNER_KIND_CONTAINER:
      return "container";
    case v1::OWNER_KIND_NETNS:
      return "netns";
    case v1::OWNER_KIND_HOST:
      return "host";
    case v1::OWNER_KIND_SWARM_TASK:
      return "swarm-task";
    case v1::OWNER_KIND_SWARM_VIP:
      return "swarm-vip";
    default:
      return "?";
  }
}

std::string CloseReasonName(v1::CloseReason reason) {
  switch (reason) {
    case v1::CLOSE_REASON_DETACHED:
      return "detached";
    case v1::CLOSE_REASON_CONTAINER_DIED:
      return "container-died";
    case v1::CLOSE_REASON_TASK_ENDED:
      return "task-ended";
    case v1::CLOSE_REASON_NOT_IN_INVENTORY:
      return "not-in-inventory";
    case v1::CLOSE_REASON_NODE_LOST:
      return "node-lost";
    default:
      return "?";
  }
}

std::string EventTypeName(v1::FindingEventType type) {
  switch (type) {
    case v1::OPENED:
      return "OPENED";
    case v1::UPDATED:
      return "UPDATED";
    case v1::CLOSED:
      return "CLOSED";
    default:
      return "?";
  }
}

std::string RemediationModeName(v1::RemediationMode mode) {
  switch (mode) {
    case v1::REMEDIATION_MODE_OFF:
      return "off";
    case v1::REMEDIATION_MODE_DRY_RUN:
      return "dry-run";
    case v1::REMEDIATION_MODE_AUTO:
      return "auto";
    default:
      return "?";
  }
}

std::string RemediationDecisionName(v1::RemediationDecision decision) {
  switch (decision) {
    case v1::REMEDIATION_DECISION_ORDERED:
      return "ordered";
    case v1::REMEDIATION_DECISION_WOULD_DESTROY:
      return "would destroy";
    case v1::REMEDIATION_DECISION_DECLINED:
      return "declined";
    case v1::REMEDIATION_DECISION_RATE_LIMITED:
      return "rate-limited";
    default:
      return "?";
  }
}

std::string RemediationOutcomeName(v1::RemediationOutcomeKind outcome) {
  switch (outcome) {
    case v1::REMEDIATION_OUTCOME_UNSPECIFIED:
      return "-";
    case v1::REMEDIATION_DESTROYED:
      return "destroyed";
    case v1::REMEDIATION_ALREADY_GONE:
      return "already gone";
    case v1::REMEDIATION_REFUSED:
      return "refused";
    case v1::REMEDIATION_FAILED:
      return "failed";
    case v1::REMEDIATION_WOULD_DESTROY:
      return "would destroy";
    default:
      return "?";
  }
}

}  // namespace ghostpeer::cli
