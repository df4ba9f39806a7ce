// Alertmanager v2 API payloads (POST /api/v2/alerts) for findings. Pure.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_ALERTMANAGER_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_ALERTMANAGER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator::alerts {

// "GhostPeerVanishedPeer", "GhostPeerReassignedPeer",
// "GhostPeerCloseWaitWriter"; "GhostPeerFinding" for an unknown kind.
std::string AlertName(v1::FindingKind kind);

// The label set an alert is identified and routed by: alertname, kind
// ("VANISHED_PEER"), severity ("critical", "warning", "info"), service and
// node of the client (empty ones left out, as Alertmanager drops them
// anyway), and finding_id so that two findings never merge into one alert.
std::map<std::string, std::string> AlertLabels(const v1::Finding& finding);

// One alert. `ends_at`: for an open finding, a time past the next resend
// (Alertmanager resolves an alert whose endsAt passed without an update);
// for a resolved one, when it resolved. `generator_url` may be empty.
struct AlertInput {
  v1::Finding finding;
  absl::Time ends_at;
  // Labels to send instead of AlertLabels(finding): resolving a label set
  // sent earlier (the severity changed since).
  std::map<std::string, std::string> labels_override;
};

// The JSON array Alertmanager's v2 API takes: labels, annotations (summary:
// the story; description: client, peer, state and queues; finding_id; url:
// the finding's web page, when `external_url` is set; remediation: what
// ghostpeer did about it, when it did something), startsAt
// (first_seen), endsAt, generatorURL. Times in RFC 3339 UTC.
std::string AlertmanagerPayload(const std::vector<AlertInput>& alerts,
                                const std::string& generator_url,
                                const std::string& external_url = "");

// The finding's page on the aggregator's web page (aggregator/web):
// `external_url` (--external-url, a trailing '/' dropped) + "/finding/" +
// the id, percent-encoded where it is not [A-Za-z0-9._-]; "" when either
// is empty.
std::string FindingPageUrl(absl::string_view external_url,
                           absl::string_view finding_id);

// The URL to POST to for `base` ("http://am:9093" or ".../api/v2/alerts").
std::string AlertmanagerAlertsUrl(const std::string& base);

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_ALERTMANAGER_H_
