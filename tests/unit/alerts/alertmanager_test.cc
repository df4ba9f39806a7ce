#include "aggregator/alerts/alertmanager.h"

#include <string>
#include <vector>

#include "aggregator/alerts/story.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_findings.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::Resolved;
using testing::T0;
using testing::VanishedFinding;

TEST(AlertStoryTest, Table) {
  struct Case {
    std::string name;
    v1::Finding finding;
    std::string want;
  };
  v1::Finding idle = VanishedFinding();
  idle.set_severity(v1::WARNING);
  idle.set_bytes_at_risk(0);
  v1::Finding netns = VanishedFinding();
  netns.mutable_socket()->clear_task();
  netns.mutable_socket()->clear_service();
  netns.mutable_socket()->set_netns_inode(4026532625);
  netns.mutable_socket()->set_remote_ip("10.99.0.2");
  netns.mutable_peer_last_owner()->clear_task();
  netns.mutable_peer_last_owner()->clear_service();
  netns.mutable_peer_last_owner()->set_netns("gpx-srv");
  netns.set_bytes_at_risk(1800);
  v1::Finding reassigned = VanishedFinding();
  reassigned.set_kind(v1::REASSIGNED_PEER);
  reassigned.mutable_peer_current_owner()->set_task("cache.1");
  v1::Finding close_wait = VanishedFinding();
  close_wait.set_kind(v1::CLOSE_WAIT_WRITER);
  v1::Finding told = VanishedFinding();
  told.set_story("server's own\nstory");
  const std::vector<Case> cases = {
      {"critical vanished", VanishedFinding(),
       "orders.2 on node-3 is writing to 10.0.1.6:27017, which belonged to "
       "mongo.1 until 11:05:40; 70 KB at risk"},
      {"idle vanished", idle,
       "orders.2 on node-3 holds an idle connection to 10.0.1.6:27017, which "
       "belonged to mongo.1 until 11:05:40; its next write will be lost"},
      {"process in a namespace", netns,
       "logc (pid 4242) in netns:4026532625 on node-3 is writing to "
       "10.99.0.2:27017, which belonged to netns gpx-srv until 11:05:40; "
       "1.8 KB at risk"},
      {"reassigned", reassigned,
       "orders.2 on node-3 is connected to 10.0.1.6:27017, which belonged to "
       "mongo.1 until 11:05:40 and now belongs to cache.1; 70 KB at risk"},
      {"close wait writer", close_wait,
       "orders.2 on node-3 keeps writing to 10.0.1.6:27017 after the peer "
       "closed the connection; 70 KB at risk"},
      {"engine story wins, on one line", told, "server's own story"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AlertStory(c.finding), c.want) << c.name;
  }
}

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
  EXPECT_EQ(alert["annotations"]["summary"], AlertStory(VanishedFinding()));
  EXPECT_NE(alert["annotations"]["description"].get<std::string>().find(
                "10.0.1.8:50386 -> 10.0.1.6:27017 CLOSE_WAIT"),
            std::string::npos)
      << alert["annotations"]["description"];
  EXPECT_EQ(alert["startsAt"], "2026-11-18T11:06:40.000Z");
  EXPECT_EQ(alert["endsAt"], "2026-11-18T11:10:40.000Z");
  EXPECT_EQ(alert["generatorURL"], "http://gp/findings");
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
