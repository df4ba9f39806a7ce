#include "aggregator/alerts/webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace ghostpeer::aggregator::alerts {

absl::string_view DeliveryEventName(DeliveryEvent event) {
  switch (event) {
    case DeliveryEvent::kOpened:
      return "OPENED";
    case DeliveryEvent::kResolved:
      return "RESOLVED";
    case DeliveryEvent::kRemediated:
      return "REMEDIATED";
  }
  return "?";
}

absl::StatusOr<DeliveryEvent> ParseDeliveryEvent(absl::string_view name) {
  if (name == "OPENED") return DeliveryEvent::kOpened;
  if (name == "RESOLVED") return DeliveryEvent::kResolved;
  if (name == "REMEDIATED") return DeliveryEvent::kRemediated;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown delivery event '", name, "'"));
}

absl::StatusOr<std::string> WebhookBody(DeliveryEvent event,
                                        absl::string_view delivery_id,
                                        const v1::Finding& finding,
                                        absl::string_view page_url) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string finding_json;
  const auto status = google::protobuf::util::MessageToJsonString(
      finding, &finding_json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("finding ", finding.id(),
                                            " as JSON: ", status.ToString()));
  }
  // Assembled by hand so the finding's JSON is exactly protobuf's (the
  // mapping docs/DESIGN.md promises), and the bytes signed are the bytes sent.
  return absl::StrCat(
      "{\"event\":",
      nlohmann::json(std::string(DeliveryEventName(event))).dump(),
      ",\"delivery_id\":",
      nlohmann::json(std::string(delivery_id))
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      ",\"finding\":", finding_json,
      page_url.empty()
          ? std::string()
          : absl::StrCat(",\"url\":",
                         nlohmann::json(std::string(page_url))
                             .dump(-1, ' ', false,
                                   nlohmann::json::error_handler_t::replace)),
      "}");
}

std::string HmacSha256Hex(absl::string_view key, absl::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       digest, &length);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string SignatureValue(absl::string_view secret, absl::string_view body) {
  return absl::StrCat("sha256=", HmacSha256Hex(secret, body));
}

absl::StatusOr<std::string> LoadWebhookSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ErrnoToStatus(errno, absl::StrCat("webhook secret file ", path));
  }
  std::stringstream content;
  content << in.rdbuf();
  std::string secret = content.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  if (secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook secret file ", path, " is empty"));
  }
  return secret;
}

}  // namespace ghostpeer::aggregator::alerts
