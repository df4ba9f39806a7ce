#include "aggregator/alerts/alertmanager.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_findings.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::Resolved;
using testing::T0;
using testing::VanishedFinding;

TEST(AlertmanagerPayloadTest, OpenAlertHasRoutingLabelsStoryAndTimes) {
  const std::string payload = AlertmanagerPayload(
      {{VanishedFinding(), T0() + absl::Minutes(4), {}}}, "http://gp/findings");
  const nlohmann::json json = nlohmann::json::parse(payload);
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 1u);
  const nlohmann::json& alert = json[0];
  EXPECT_EQ(alert["labels"],
            nlohmann::json({{"alertname", "GhostPeerVanishedPeer"},
                            {"kind", "VANISHED_PEER"},
                            {"severity", "critical"},
                            {"service", "orders"},
                            {"node", "node-3"},
                            {"finding_id", "00000000000000aa"}}));
  // No story from the Engine: composed as of first_seen (T0), in UTC.
  EXPECT_EQ(alert["annotations"]["summary"],
            "orders.2 on node-3 is writing to 10.0.1.6:27017, which belonged "
            "to mongo.1 until 11:05:40 UTC; nobody holds it now; the peer "
            "had closed the connection; 70 KB at risk. Set TCP_USER_TIMEOUT "
            "(e.g. 30s) or keepalive on the client so it notices by itself: "
            "its kernel would otherwise keep retrying for about 15m12s more");
  EXPECT_NE(alert["annotations"]["description"].get<std::string>().find(
                "10.0.1.8:50386 -> 10.0.1.6:27017 CLOSE_WAIT"),
            std::string::npos)
      << alert["annotations"]["description"];
  EXPECT_EQ(alert["startsAt"], "2026-11-18T11:06:40.000Z");
  EXPECT_EQ(alert["endsAt"], "2026-11-18T11:10:40.000Z");
  EXPECT_EQ(alert["generatorURL"], "http://gp/findings");
  EXPECT_FALSE(alert["annotations"].contains("url")) << "no --external-url";
}

// --external-url: the alert links to the finding's page on the aggregator.
TEST(AlertmanagerPayloadTest, ExternalUrlLinksTheFindingsPage) {
  const nlohmann::json json = nlohmann::json::parse(AlertmanagerPayload(
      {{VanishedFinding(), T0(), {}}}, "", "https://gp.example/"));
  EXPECT_EQ(json[0]["annotations"]["url"],
            "https://gp.example/finding/00000000000000aa");
}

TEST(FindingPageUrlTest, Table) {
  EXPECT_EQ(FindingPageUrl("http://gp:9470", "ab-1"),
            "http://gp:9470/finding/ab-1");
  EXPECT_EQ(FindingPageUrl("http://gp:9470/", "ab"),
            "http://gp:9470/finding/ab");
  EXPECT_EQ(FindingPageUrl("http://gp", "a/b?c"),
            "http://gp/finding/a%2Fb%3Fc");
  EXPECT_EQ(FindingPageUrl("", "ab"), "");
  EXPECT_EQ(FindingPageUrl("http://gp", ""), "");
}

TEST(AlertmanagerPayloadTest, DescriptionNamesTheBackendAndUdp) {
  v1::Finding finding = VanishedFinding();
  finding.mutable_socket()->set_remote_ip("10.0.1.2");
  finding.mutable_socket()->set_remote_port(5432);
  finding.mutable_socket()->set_backend_ip("10.0.1.6");
  finding.mutable_socket()->set_backend_port(27017);
  finding.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
  const nlohmann::json json =
      nlohmann::json::parse(AlertmanagerPayload({{finding, T0(), {}}}, ""));
  const std::string description =
      json[0]["annotations"]["description"].get<std::string>();
  EXPECT_NE(description.find("10.0.1.8:50386 -> 10.0.1.2:5432 (translated to "
                             "10.0.1.6:27017) UDP"),
            std::string::npos)
      << description;
  EXPECT_NE(description.find("ghostpeer history 10.0.1.6 tells"),
            std::string::npos)
      << description;
}

TEST(AlertmanagerPayloadTest, SummaryIsTheEnginesStoryOnOneLine) {
  v1::Finding told = VanishedFinding();
  told.set_story("the engine's own\nstory");
  const nlohmann::json json = nlohmann::json::parse(
      AlertmanagerPayload({{told, T0() + absl::Minutes(4), {}}}, ""));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["annotations"]["summary"], "the engine's own?story");
}

TEST(AlertmanagerPayloadTest, RemediationAnnotationOnlyWhenSomethingWasDone) {
  v1::Finding finding = VanishedFinding();
  nlohmann::json json = nlohmann::json::parse(
      AlertmanagerPayload({{finding, T0() + absl::Minutes(4), {}}}, ""));
  EXPECT_FALSE(json[0]["annotations"].contains("remediation")) << json;
  finding.set_remediation("would destroy (dry-run)");
  json = nlohmann::json::parse(
      AlertmanagerPayload({{finding, T0() + absl::Minutes(4), {}}}, ""));
  EXPECT_EQ(json[0]["annotations"]["remediation"], "would destroy (dry-run)");
}

TEST(AlertmanagerPayloadTest, ResolvedAndOverriddenLabelSets) {
  const v1::Finding resolved =
      Resolved(VanishedFinding(), T0() + absl::Seconds(30));
  std::map<std::string, std::string> old_labels = AlertLabels(resolved);
  old_labels["severity"] = "warning";
  const nlohmann::json json = nlohmann::json::parse(
      AlertmanagerPayload({{resolved, T0() + absl::Seconds(30), old_labels},
                           {resolved, T0() + absl::Seconds(30), {}}},
                          ""));
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["labels"]["severity"], "warning");
  EXPECT_EQ(json[1]["labels"]["severity"], "critical");
  EXPECT_EQ(json[1]["endsAt"], "2026-11-18T11:07:10.000Z");
  EXPECT_FALSE(json[1].contains("generatorURL"));
}

TEST(AlertmanagerPayloadTest, LabelsLeaveOutEmptyServiceAndNode) {
  v1::Finding f = VanishedFinding();
  f.mutable_socket()->clear_service();
  f.mutable_socket()->clear_node();
  const auto labels = AlertLabels(f);
  EXPECT_EQ(labels.count("service"), 0u);
  EXPECT_EQ(labels.count("node"), 0u);
  EXPECT_EQ(labels.at("alertname"), "GhostPeerVanishedPeer");
}

TEST(AlertmanagerPayloadTest, InvalidUtf8IsReplacedNotThrown) {
  v1::Finding f = VanishedFinding();
  f.set_story("bad \xff byte");
  EXPECT_NO_THROW(
      nlohmann::json::parse(AlertmanagerPayload({{f, T0(), {}}}, "")));
}

TEST(AlertNameTest, Table) {
  struct Case {
    std::string name;
    v1::FindingKind kind;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"vanished", v1::VANISHED_PEER, "GhostPeerVanishedPeer"},
           {"reassigned", v1::REASSIGNED_PEER, "GhostPeerReassignedPeer"},
           {"close wait", v1::CLOSE_WAIT_WRITER, "GhostPeerCloseWaitWriter"},
           {"unknown", v1::FINDING_KIND_UNSPECIFIED, "GhostPeerFinding"}}) {
    EXPECT_EQ(AlertName(c.kind), c.want) << c.name;
  }
}

TEST(AlertmanagerAlertsUrlTest, Table) {
  struct Case {
    std::string name, in, want;
  };
  for (const Case& c : std::vector<Case>{
           {"base", "http://am:9093", "http://am:9093/api/v2/alerts"},
           {"trailing slash", "http://am:9093/",
            "http://am:9093/api/v2/alerts"},
           {"full", "http://am:9093/api/v2/alerts",
            "http://am:9093/api/v2/alerts"},
           {"prefix", "https://x/am", "https://x/am/api/v2/alerts"}}) {
    EXPECT_EQ(AlertmanagerAlertsUrl(c.in), c.want) << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
