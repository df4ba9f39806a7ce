// The remediation policy, case by case: every qualifying and
// non-qualifying situation of issue 11, labels, stale reports, dry runs.
#include "aggregator/remediation/policy.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::remediation {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// A confirmed vanished peer that still carries data, on a healthy node
// whose agent acts on orders, under --remediation auto: qualifies.
PolicyInput Qualifying(v1::Finding* finding) {
  finding->set_id("f1");
  finding->set_kind(v1::VANISHED_PEER);
  finding->set_severity(v1::CRITICAL);
  finding->set_status(v1::OPEN);
  v1::SocketRecord* socket = finding->mutable_socket();
  socket->set_node("node-1");
  socket->set_netns_inode(4026532625);
  socket->set_local_ip("10.0.1.8");
  socket->set_local_port(50386);
  socket->set_remote_ip("10.0.1.6");
  socket->set_remote_port(27017);
  socket->set_inode(908125);
  socket->set_cookie(77);
  socket->set_service("gpx-cli");
  socket->set_send_queue(120);
  v1::AddressOwner* last = finding->mutable_peer_last_owner();
  last->set_address("10.0.1.6");
  *last->mutable_until() = ToProto(kNow - absl::Seconds(8));
  last->set_close_reason(v1::CLOSE_REASON_CONTAINER_DIED);
  PolicyInput input;
  input.finding = finding;
  input.now = kNow;
  input.node.known = true;
  input.node.remediation_enabled = true;
  input.node.last_report = kNow - absl::Seconds(1);
  input.node.report_interval = absl::Seconds(5);
  input.aggregator_mode = v1::REMEDIATION_MODE_AUTO;
  return input;
}

struct Case {
  std::string name;
  std::function<void(PolicyInput&, v1::Finding&)> change;
  v1::RemediationDecision decision;
  v1::RemediationMode mode;
  std::string guard = "";       // DECLINED: which
  std::string reason_has = "";  // a word the reason must carry
  bool dry_run_order = false;
};

constexpr auto kOrdered = v1::REMEDIATION_DECISION_ORDERED;
constexpr auto kWould = v1::REMEDIATION_DECISION_WOULD_DESTROY;
constexpr auto kDeclined = v1::REMEDIATION_DECISION_DECLINED;
constexpr auto kAuto = v1::REMEDIATION_MODE_AUTO;
constexpr auto kDryRun = v1::REMEDIATION_MODE_DRY_RUN;
constexpr auto kOff = v1::REMEDIATION_MODE_OFF;

std::vector<Case> Cases() {
  using I = PolicyInput;
  using F = v1::Finding;
  return {
      {"vanished, data, auto", [](I&, F&) {}, kOrdered, kAuto, "",
       "vanished 10.0.1.6"},
      {"flag dry-run", [](I& i, F&) { i.aggregator_mode = kDryRun; }, kWould,
       kDryRun, "", "dry-run mode"},
      {"flag off", [](I& i, F&) { i.aggregator_mode = kOff; }, kDeclined, kOff,
       "mode_off"},
      {"flag off beats label auto",
       [](I& i, F&) {
         i.aggregator_mode = kOff;
         i.service_label = "auto";
       },
       kDeclined, kOff, "mode_off"},
      {"label off", [](I& i, F&) { i.service_label = "off"; }, kDeclined, kOff,
       "label_off", "gpx-cli"},
      {"label dry-run beats flag auto",
       [](I& i, F&) { i.service_label = "dry-run"; }, kWould, kDryRun},
      {"label auto beats flag dry-run",
       [](I& i, F&) {
         i.aggregator_mode = kDryRun;
         i.service_label = "auto";
       },
       kOrdered, kAuto},
      {"invalid label: the flag decides, and says so",
       [](I& i, F&) {
         i.aggregator_mode = kDryRun;
         i.service_label = "Auto ";
       },
       kWould, kDryRun, "", "ignored"},
      {"resolved", [](I&, F& f) { f.set_status(v1::RESOLVED); }, kDeclined,
       kAuto, "resolved"},
      {"close-wait writer never",
       [](I& i, F& f) {
         f.set_kind(v1::CLOSE_WAIT_WRITER);
         i.service_label = "auto";
       },
       kDeclined, kAuto, "kind"},
      {"reassigned without the label",
       [](I&, F& f) {
         f.set_kind(v1::REASSIGNED_PEER);
         f.mutable_peer_current_owner()->set_address("10.0.1.6");
       },
       kDeclined, kAuto, "kind", "labelled"},
      {"reassigned, flag auto is not enough without the label",
       [](I& i, F& f) {
         f.set_kind(v1::REASSIGNED_PEER);
         f.mutable_peer_current_owner()->set_address("10.0.1.6");
         i.service_label = "dry-run";
       },
       kDeclined, kDryRun, "kind"},
      {"reassigned, service labelled auto",
       [](I& i, F& f) {
         f.set_kind(v1::REASSIGNED_PEER);
         f.mutable_peer_current_owner()->set_address("10.0.1.6");
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_NOT_IN_INVENTORY);
         i.service_label = "auto";
       },
       kOrdered, kAuto, "", "someone else's"},
      {"reassigned, labelled auto, no holder known, absence only",
       [](I& i, F& f) {
         f.set_kind(v1::REASSIGNED_PEER);
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_NOT_IN_INVENTORY);
         i.service_label = "auto";
       },
       kDeclined, kAuto, "absence"},
      {"unknown kind",
       [](I&, F& f) { f.set_kind(v1::FINDING_KIND_UNSPECIFIED); }, kDeclined,
       kAuto, "kind"},
      {"loopback remote",
       [](I&, F& f) { f.mutable_socket()->set_remote_ip("127.0.0.1"); },
       kDeclined, kAuto, "loopback"},
      {"loopback local (IPv6)",
       [](I&, F& f) { f.mutable_socket()->set_local_ip("::1"); }, kDeclined,
       kAuto, "loopback"},
      {"loopback backend",
       [](I&, F& f) { f.mutable_socket()->set_backend_ip("127.0.0.11"); },
       kDeclined, kAuto, "loopback"},
      {"no cookie (read from /proc)",
       [](I&, F& f) { f.mutable_socket()->set_cookie(0); }, kDeclined, kAuto,
       "identity"},
      {"no inode (orphan)", [](I&, F& f) { f.mutable_socket()->set_inode(0); },
       kDeclined, kAuto, "identity"},
      {"no namespace", [](I&, F& f) { f.mutable_socket()->set_netns_inode(0); },
       kDeclined, kAuto, "identity"},
      {"quiet: warning, nothing queued",
       [](I&, F& f) {
         f.set_severity(v1::WARNING);
         f.mutable_socket()->set_send_queue(0);
       },
       kDeclined, kAuto, "no_data"},
      {"warning but bytes queued",
       [](I&, F& f) { f.set_severity(v1::WARNING); }, kOrdered, kAuto},
      {"warning, segments unacknowledged",
       [](I&, F& f) {
         f.set_severity(v1::WARNING);
         f.mutable_socket()->set_send_queue(0);
         f.mutable_socket()->mutable_tcp_info()->set_unacked(2);
       },
       kOrdered, kAuto},
      {"warning, bytes not sent yet",
       [](I&, F& f) {
         f.set_severity(v1::WARNING);
         f.mutable_socket()->set_send_queue(0);
         f.mutable_socket()->mutable_tcp_info()->set_notsent_bytes(10);
       },
       kOrdered, kAuto},
      {"UDP",
       [](I&, F& f) {
         f.set_severity(v1::WARNING);
         f.mutable_socket()->set_send_queue(0);
         f.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
       },
       kDeclined, kAuto, "no_data", "UDP"},
      {"departure: task ended (tasks API)",
       [](I&, F& f) {
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_TASK_ENDED);
       },
       kOrdered, kAuto},
      {"departure: node lost (managers: down)",
       [](I&, F& f) {
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_NODE_LOST);
       },
       kOrdered, kAuto},
      {"departure: detached (seen gone from its namespace)",
       [](I&, F& f) {
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_DETACHED);
       },
       kOrdered, kAuto},
      {"absence: missing from a later inventory",
       [](I&, F& f) {
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_NOT_IN_INVENTORY);
       },
       kDeclined, kAuto, "absence", "inventory"},
      {"absence: no reason recorded",
       [](I&, F& f) {
         f.mutable_peer_last_owner()->set_close_reason(
             v1::CLOSE_REASON_UNSPECIFIED);
       },
       kDeclined, kAuto, "absence"},
      {"absence: no end recorded",
       [](I&, F& f) { f.mutable_peer_last_owner()->clear_until(); }, kDeclined,
       kAuto, "absence"},
      {"absence: no last owner", [](I&, F& f) { f.clear_peer_last_owner(); },
       kDeclined, kAuto, "absence"},
      {"node unknown", [](I& i, F&) { i.node.known = false; }, kDeclined, kAuto,
       "node_unknown"},
      {"node never reported",
       [](I& i, F&) { i.node.last_report = absl::InfinitePast(); }, kDeclined,
       kAuto, "node_unknown"},
      {"stale: 16 s at a 5 s interval",
       [](I& i, F&) { i.node.last_report = kNow - absl::Seconds(16); },
       kDeclined, kAuto, "stale", "3 report intervals"},
      {"not stale: 15 s at a 5 s interval",
       [](I& i, F&) { i.node.last_report = kNow - absl::Seconds(15); },
       kOrdered, kAuto},
      {"stale: 4 s at a 1 s interval",
       [](I& i, F&) {
         i.node.report_interval = absl::Seconds(1);
         i.node.last_report = kNow - absl::Seconds(4);
       },
       kDeclined, kAuto, "stale"},
      {"interval unknown: 5 s assumed, 14 s is fresh",
       [](I& i, F&) {
         i.node.report_interval = absl::ZeroDuration();
         i.node.last_report = kNow - absl::Seconds(14);
       },
       kOrdered, kAuto},
      {"interval unknown: 5 s assumed, 16 s is stale",
       [](I& i, F&) {
         i.node.report_interval = absl::ZeroDuration();
         i.node.last_report = kNow - absl::Seconds(16);
       },
       kDeclined, kAuto, "stale"},
      {"stale also in dry-run",
       [](I& i, F&) {
         i.aggregator_mode = kDryRun;
         i.node.last_report = kNow - absl::Minutes(5);
       },
       kDeclined, kDryRun, "stale"},
      {"agent without --remediation, auto",
       [](I& i, F&) {
         i.node.remediation_enabled = false;
         i.node.remediation_refusal = "agent started without --remediation";
       },
       kDeclined, kAuto, "agent_disabled", "without --remediation"},
      {"agent without --remediation, dry-run: noted",
       [](I& i, F&) {
         i.aggregator_mode = kDryRun;
         i.node.remediation_enabled = false;
       },
       kWould, kDryRun, "", "would refuse"},
      {"manual under dry-run acts",
       [](I& i, F&) {
         i.aggregator_mode = kDryRun;
         i.manual = true;
       },
       kOrdered, kDryRun},
      {"manual dry run under auto: the agent re-checks only",
       [](I& i, F&) {
         i.manual = true;
         i.dry_run = true;
       },
       kWould, kAuto, "", "dry run asked", /*dry_run_order=*/true},
      {"manual dry run, agent disabled: nothing sent",
       [](I& i, F&) {
         i.manual = true;
         i.dry_run = true;
         i.node.remediation_enabled = false;
       },
       kWould, kAuto, "", "would refuse"},
      {"manual, agent disabled",
       [](I& i, F&) {
         i.manual = true;
         i.node.remediation_enabled = false;
       },
       kDeclined, kAuto, "agent_disabled"},
      {"manual under off",
       [](I& i, F&) {
         i.aggregator_mode = kOff;
         i.manual = true;
       },
       kDeclined, kOff, "mode_off"},
      {"manual, service labelled off",
       [](I& i, F&) {
         i.service_label = "off";
         i.manual = true;
       },
       kDeclined, kOff, "label_off"},
      {"manual still guarded: close-wait writer",
       [](I& i, F& f) {
         i.manual = true;
         f.set_kind(v1::CLOSE_WAIT_WRITER);
       },
       kDeclined, kAuto, "kind"},
  };
}

TEST(PolicyTest, Cases) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    v1::Finding finding;
    PolicyInput input = Qualifying(&finding);
    c.change(input, finding);
    const PolicyDecision decision = Decide(input);
    EXPECT_EQ(v1::RemediationDecision_Name(decision.decision),
              v1::RemediationDecision_Name(c.decision))
        << decision.reason;
    EXPECT_EQ(ModeName(decision.mode), std::string(ModeName(c.mode)));
    EXPECT_EQ(decision.guard, c.guard) << decision.reason;
    EXPECT_THAT(decision.reason, HasSubstr(c.reason_has));
    EXPECT_FALSE(decision.reason.empty());
    EXPECT_EQ(decision.dry_run_order, c.dry_run_order);
  }
}

TEST(PolicyTest, JudgesTheBackendBehindAVip) {
  v1::Finding finding;
  PolicyInput input = Qualifying(&finding);
  finding.mutable_socket()->set_remote_ip("10.0.1.2");  // the VIP
  finding.mutable_socket()->set_backend_ip("10.0.1.6");
  const PolicyDecision decision = Decide(input);
  EXPECT_EQ(decision.decision, kOrdered);
  EXPECT_EQ(decision.peer_ip, "10.0.1.6");
}

TEST(PolicyTest, ModeWords) {
  EXPECT_EQ(ParseMode("off"), kOff);
  EXPECT_EQ(ParseMode("dry-run"), kDryRun);
  EXPECT_EQ(ParseMode("auto"), kAuto);
  for (const char* bad : {"", "AUTO", " auto", "dryrun", "on", "true"}) {
    EXPECT_EQ(ParseMode(bad), std::nullopt) << bad;
  }
  for (auto mode : {kOff, kDryRun, kAuto}) {
    EXPECT_EQ(ParseMode(ModeName(mode)), mode);
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation
