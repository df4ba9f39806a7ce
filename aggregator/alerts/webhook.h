// Webhook payloads: a finding as JSON (proto3 JSON mapping, proto field
// names: the names of docs/DESIGN.md) in an envelope, signed with HMAC-SHA256.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_WEBHOOK_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_WEBHOOK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator::alerts {

// What happened to a finding, as webhooks and the delivery state name it.
// kRemediated: ghostpeer decided (or learnt the outcome of) a remediation
// of the open finding; Finding.remediation says what was done. Sent once
// per distinct Finding.remediation text within an episode.
enum class DeliveryEvent { kOpened, kResolved, kRemediated };

// "OPENED", "RESOLVED", "REMEDIATED".
absl::string_view DeliveryEventName(DeliveryEvent event);
// Inverse of DeliveryEventName; InvalidArgument otherwise.
absl::StatusOr<DeliveryEvent> ParseDeliveryEvent(absl::string_view name);

// The header receivers verify: "X-Ghostpeer-Signature: sha256=<hex>".
inline constexpr absl::string_view kSignatureHeader = "X-Ghostpeer-Signature";

// {"event":"OPENED","delivery_id":"<id>","finding":{...}}, and
// "url":"<the finding's page>" when `page_url` is set. `delivery_id`
// is stable across retries so receivers can drop a duplicate (delivery is
// at least once: a receiver that stored the body but whose answer was lost
// gets it again). Internal when the finding cannot be printed as JSON.
// Pure.
absl::StatusOr<std::string> WebhookBody(DeliveryEvent event,
                                        absl::string_view delivery_id,
                                        const v1::Finding& finding,
                                        absl::string_view page_url = "");

// Lower-case hex of HMAC-SHA256(key, message). Pure.
std::string HmacSha256Hex(absl::string_view key, absl::string_view message);

// "sha256=" + HmacSha256Hex(secret, body). Pure.
std::string SignatureValue(absl::string_view secret, absl::string_view body);

// Reads the secret from `path`, trailing newlines stripped (files written by
// `echo` or swarm secrets). NotFound/PermissionDenied from the filesystem,
// InvalidArgument when empty.
absl::StatusOr<std::string> LoadWebhookSecret(const std::string& path);

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_WEBHOOK_H_
