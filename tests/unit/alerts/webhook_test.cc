#include "aggregator/alerts/webhook.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_findings.h"

namespace ghostpeer::aggregator::alerts {
namespace {

TEST(HmacSha256HexTest, KnownVectors) {
  // RFC 4231, test cases 1 and 2, and the empty-message case.
  struct Case {
    std::string name, key, message, want;
  };
  const std::vector<Case> cases = {
      {"rfc4231 case 1", std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"rfc4231 case 2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"empty key and message", "", "",
       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HmacSha256Hex(c.key, c.message), c.want) << c.name;
  }
  EXPECT_EQ(SignatureValue("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9"
            "64ec3843");
}

TEST(WebhookBodyTest, EnvelopeCarriesEventIdAndFindingInDesignNames) {
  const v1::Finding finding = testing::VanishedFinding();
  absl::StatusOr<std::string> body =
      WebhookBody(DeliveryEvent::kOpened, "aa-1-OPENED", finding);
  ASSERT_TRUE(body.ok()) << body.status();
  const nlohmann::json json = nlohmann::json::parse(*body);
  EXPECT_EQ(json["event"], "OPENED");
  EXPECT_EQ(json["delivery_id"], "aa-1-OPENED");
  const nlohmann::json& f = json["finding"];
  EXPECT_EQ(f["id"], "00000000000000aa");
  EXPECT_EQ(f["kind"], "VANISHED_PEER");
  EXPECT_EQ(f["severity"], "CRITICAL");
  EXPECT_EQ(f["status"], "OPEN");
  EXPECT_EQ(f["bytes_at_risk"], "71680");  // uint64: a string in proto3 JSON
  EXPECT_EQ(f["socket"]["remote_ip"], "10.0.1.6");
  EXPECT_EQ(f["socket"]["send_queue"], 1794);
  EXPECT_EQ(f["socket"]["state"], "TCP_STATE_CLOSE_WAIT");
  EXPECT_EQ(f["socket"]["tcp_info"]["backoff"], 6);
  EXPECT_EQ(f["peer_last_owner"]["task"], "mongo.1");
  EXPECT_EQ(f["first_seen"], "2026-11-18T11:06:40Z");

  absl::StatusOr<std::string> resolved =
      WebhookBody(DeliveryEvent::kResolved, "aa-1-RESOLVED",
                  testing::Resolved(finding, testing::T0()));
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(nlohmann::json::parse(*resolved)["event"], "RESOLVED");
  EXPECT_FALSE(json.contains("url")) << "no --external-url";
}

TEST(WebhookBodyTest, ExternalUrlAddsTheFindingsPage) {
  absl::StatusOr<std::string> body =
      WebhookBody(DeliveryEvent::kOpened, "aa-1-OPENED",
                  testing::VanishedFinding(), "https://gp.example/finding/aa");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(nlohmann::json::parse(*body)["url"],
            "https://gp.example/finding/aa");
}

TEST(WebhookBodyTest, DeterministicSoTheSignatureMatchesTheBytesSent) {
  const v1::Finding finding = testing::VanishedFinding();
  EXPECT_EQ(*WebhookBody(DeliveryEvent::kOpened, "x", finding),
            *WebhookBody(DeliveryEvent::kOpened, "x", finding));
}

TEST(WebhookBodyTest, SaysWhatWasDoneOnlyWhenSomethingWas) {
  v1::Finding finding = testing::VanishedFinding();
  auto plain = WebhookBody(DeliveryEvent::kOpened, "aa-1-OPENED", finding);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(nlohmann::json::parse(*plain)["finding"].contains("remediation"))
      << *plain;
  finding.set_remediation(
      "destroyed the socket at 11:07:02 UTC (policy, "
      "auto); the client saw the error");
  auto told =
      WebhookBody(DeliveryEvent::kRemediated, "aa-1-REMEDIATED-x", finding);
  ASSERT_TRUE(told.ok());
  const nlohmann::json body = nlohmann::json::parse(*told);
  EXPECT_EQ(body["event"], "REMEDIATED");
  EXPECT_EQ(body["finding"]["remediation"], finding.remediation());
}

TEST(DeliveryEventTest, RoundTrip) {
  for (DeliveryEvent e : {DeliveryEvent::kOpened, DeliveryEvent::kResolved,
                          DeliveryEvent::kRemediated}) {
    EXPECT_EQ(*ParseDeliveryEvent(DeliveryEventName(e)), e);
  }
  EXPECT_EQ(ParseDeliveryEvent("UPDATED").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadWebhookSecretTest, Table) {
  const std::string dir = ::testing::TempDir();
  struct Case {
    std::string name;
    std::string content;  // "" with write=false: no file
    bool write;
    absl::StatusCode code;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"trailing newline stripped", "s3cret\n", true, absl::StatusCode::kOk,
       "s3cret"},
      {"crlf stripped", "s3cret\r\n", true, absl::StatusCode::kOk, "s3cret"},
      {"inner spaces kept", "a b", true, absl::StatusCode::kOk, "a b"},
      {"empty", "\n", true, absl::StatusCode::kInvalidArgument, ""},
      {"missing", "", false, absl::StatusCode::kNotFound, ""},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string path = dir + "/gp-secret-" + std::to_string(getpid()) +
                             "-" + std::to_string(n++);
    if (c.write) std::ofstream(path) << c.content;
    absl::StatusOr<std::string> got = LoadWebhookSecret(path);
    EXPECT_EQ(got.status().code(), c.code) << c.name << ": " << got.status();
    if (got.ok()) {
      EXPECT_EQ(*got, c.want) << c.name;
    }
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
