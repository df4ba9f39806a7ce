#include "aggregator/alerts/alertmanager.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/http/http_server.h"
#include "common/human_bytes.h"
#include "common/story.h"
#include "common/time_util.h"
#include "nlohmann/json.hpp"

namespace ghostpeer::aggregator::alerts {
namespace {

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

// Everything the on-call person wants without opening a terminal, one line.
std::string Description(const v1::Finding& finding) {
  const v1::SocketRecord& s = finding.socket();
  const bool translated = !s.backend_ip().empty();
  std::string text =
      absl::StrCat(StoryClient(s), " on ", s.node().empty() ? "?" : s.node(),
                   ": ", Endpoint(s.local_ip(), s.local_port()), " -> ",
                   Endpoint(s.remote_ip(), s.remote_port()));
  if (translated) {
    absl::StrAppend(&text, " (translated to ",
                    Endpoint(s.backend_ip(), s.backend_port()), ")");
  }
  absl::StrAppend(
      &text, " ",
      s.protocol() == v1::PROTOCOL_UDP
          ? "UDP"
          : absl::StripPrefix(v1::TcpState_Name(s.state()), "TCP_STATE_"),
      ", send queue ", s.send_queue(), " B");
  if (s.has_tcp_info()) {
    absl::StrAppend(&text, ", backoff ", s.tcp_info().backoff(), ", unacked ",
                    s.tcp_info().unacked());
  }
  if (!s.comm().empty() || s.pid() != 0) {
    absl::StrAppend(&text, ", process ", s.comm(), "/", s.pid());
  }
  absl::StrAppend(&text, "; ", HumanBytes(finding.bytes_at_risk()),
                  " at risk. ghostpeer findings shows it; ghostpeer history ",
                  translated ? s.backend_ip() : s.remote_ip(),
                  " tells who held the address.");
  return text;
}

// The finding's story (the Engine's, told at detection); composed as of
// first_seen, in UTC, for a finding that came without one.
std::string Summary(const v1::Finding& finding) {
  return FindingStory(finding, StoryContext{FromProto(finding.first_seen())});
}

}  // namespace

std::string AlertName(v1::FindingKind kind) {
  switch (kind) {
    case v1::VANISHED_PEER:
      return "GhostPeerVanishedPeer";
    case v1::REASSIGNED_PEER:
      return "GhostPeerReassignedPeer";
    case v1::CLOSE_WAIT_WRITER:
      return "GhostPeerCloseWaitWriter";
    default:
      return "GhostPeerFinding";
  }
}

std::map<std::string, std::string> AlertLabels(const v1::Finding& finding) {
  std::map<std::string, std::string> labels;
  labels["alertname"] = AlertName(finding.kind());
  labels["kind"] = v1::FindingKind_Name(finding.kind());
  labels["severity"] =
      absl::AsciiStrToLower(v1::Severity_Name(finding.severity()));
  labels["finding_id"] = finding.id();
  if (!finding.socket().service().empty()) {
    labels["service"] = finding.socket().service();
  }
  if (!finding.socket().node().empty())
    labels["node"] = finding.socket().node();
  return labels;
}

std::string FindingPageUrl(absl::string_view external_url,
                           absl::string_view finding_id) {
  if (external_url.empty() || finding_id.empty()) return "";
  external_url = absl::StripSuffix(external_url, "/");
  return absl::StrCat(external_url, "/finding/",
                      http::PercentEncode(finding_id));
}

std::string AlertmanagerPayload(const std::vector<AlertInput>& alerts,
                                const std::string& generator_url,
                                const std::string& external_url) {
  nlohmann::json array = nlohmann::json::array();
  for (const AlertInput& alert : alerts) {
    const v1::Finding& finding = alert.finding;
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [key, value] : alert.labels_override.empty()
                                        ? AlertLabels(finding)
                                        : alert.labels_override) {
      labels[key] = value;
    }
    nlohmann::json item = {
        {"labels", labels},
        {"annotations",
         {{"summary", Summary(finding)},
          {"description", Description(finding)},
          {"finding_id", finding.id()}}},
        {"endsAt", Rfc3339(alert.ends_at)},
    };
    if (!finding.remediation().empty()) {
      item["annotations"]["remediation"] = finding.remediation();
    }
    if (finding.has_first_seen()) {
      item["startsAt"] = Rfc3339(FromProto(finding.first_seen()));
    }
    if (!generator_url.empty()) item["generatorURL"] = generator_url;
    if (std::string url = FindingPageUrl(external_url, finding.id());
        !url.empty()) {
      item["annotations"]["url"] = url;
    }
    array.push_back(std::move(item));
  }
  // Stories may hold any bytes an agent sent: replace invalid UTF-8 rather
  // than throw.
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string AlertmanagerAlertsUrl(const std::string& base) {
  absl::string_view trimmed = absl::StripSuffix(base, "/");
  if (absl::EndsWith(trimmed, "/api/v2/alerts")) return std::string(trimmed);
  return absl::StrCat(trimmed, "/api/v2/alerts");
}

}  // namespace ghostpeer::aggregator::alerts
