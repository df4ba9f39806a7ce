#include "cli/render.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/test_findings.h"

namespace ghostpeer::cli {
namespace {

using testing::TestNow;
using testing::VanishedFinding;

RenderOptions Options(bool wide = false) {
  return {TestNow(), absl::UTCTimeZone(), wide};
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(RenderTest, FindingsTableReadsAtAGlance) {
  v1::ListFindingsResponse response;
  *response.add_findings() = VanishedFinding();
  EXPECT_EQ(
      RenderFindings(response, Options()),
      "SEVERITY  KIND      CLIENT     NODE    PROCESS    PEER             "
      "LAST OWNER  LEFT       NOW HELD BY  STATE       SEND-Q  AT RISK  AGE\n"
      "CRITICAL  vanished  gpx-cli.1  node-1  logc/4242  10.99.0.2:27017  "
      "gpx-srv.1   6m56s ago  nobody       CLOSE_WAIT    1833   1.8 KB   6m\n"
      "\n"
      "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
      "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
      "the connection; "
      "1.8 KB at risk. Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the "
      "client so it notices by itself: its kernel would otherwise keep "
      "retrying for about 15m15s more\n");
}

TEST(RenderTest, FindingsSortWorstFirstAndShowStatusOnlyWhenMixed) {
  v1::ListFindingsResponse response;
  v1::Finding warning = VanishedFinding();
  warning.set_id("f-warning");
  warning.set_severity(v1::WARNING);
  warning.mutable_socket()->set_task("idle.1");
  v1::Finding small = VanishedFinding();
  small.set_id("f-small");
  small.set_bytes_at_risk(10);
  small.mutable_socket()->set_task("small.1");
  v1::Finding big = VanishedFinding();
  big.set_id("f-big");
  big.set_bytes_at_risk(70000);
  big.mutable_socket()->set_task("big.1");
  *response.add_findings() = warning;
  *response.add_findings() = small;
  *response.add_findings() = big;

  std::vector<std::string> lines = Lines(RenderFindings(response, Options()));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_FALSE(absl::StrContains(lines[0], "STATUS"));
  EXPECT_TRUE(absl::StrContains(lines[1], "big.1")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[2], "small.1")) << lines[2];
  EXPECT_TRUE(absl::StrContains(lines[3], "idle.1")) << lines[3];
  // Stories follow in the same order.
  EXPECT_TRUE(absl::StartsWith(lines[4], "big.1 ")) << lines[4];
  EXPECT_TRUE(absl::StartsWith(lines[6], "idle.1 ")) << lines[6];

  response.mutable_findings(0)->set_status(v1::RESOLVED);
  lines = Lines(RenderFindings(response, Options()));
  EXPECT_TRUE(absl::StrContains(lines[0], "STATUS"));
  // Resolved sorts after every open finding, whatever its severity.
  EXPECT_TRUE(absl::StrContains(lines[3], "idle.1")) << lines[3];
  EXPECT_TRUE(absl::StrContains(lines[3], "resolved")) << lines[3];
}

TEST(RenderTest, FindingsTableCutsLongNamesButWideDoesNot) {
  v1::ListFindingsResponse response;
  v1::Finding finding = VanishedFinding();
  const std::string long_task =
      "orders-with-a-very-long-service-name.12.k3j4h5g6f7";
  finding.mutable_socket()->set_task(long_task);
  *response.add_findings() = finding;

  const std::string table = RenderFindings(response, Options());
  EXPECT_FALSE(absl::StrContains(Lines(table)[1], long_task));
  EXPECT_TRUE(absl::StrContains(Lines(table)[1], "\u2026"));

  const std::string wide = RenderFindings(response, Options(/*wide=*/true));
  const std::vector<std::string> lines = Lines(wide);
  for (const char* column : {"ID", "LOCAL", "NETNS", "CONTAINER", "BACKOFF",
                             "UNACKED", "RTO", "LAST ACK"}) {
    EXPECT_TRUE(absl::StrContains(lines[0], column)) << column;
  }
  for (const char* cell :
       {"f-1", "10.99.0.3:43318", "4026532625", "3f4e5d6c7b8a", "  13s  "}) {
    EXPECT_TRUE(absl::StrContains(lines[1], cell))
        << cell << " in " << lines[1];
  }
  EXPECT_TRUE(absl::StrContains(lines[1], long_task));
}

TEST(RenderTest, TablesDropTaskIdsButWideKeepsThem) {
  v1::ListFindingsResponse response;
  v1::Finding finding = VanishedFinding();
  finding.mutable_socket()->set_task("gpx-cli.1.jv5rd47ey9nutvqzfed7jvk77");
  finding.mutable_peer_last_owner()->set_task(
      "gpx-srv.1.51pobf5rrfw66bof7wosx40np");
  *response.add_findings() = finding;
  const std::string row = Lines(RenderFindings(response, Options()))[1];
  EXPECT_TRUE(absl::StrContains(row, "  gpx-cli.1  ")) << row;
  EXPECT_TRUE(absl::StrContains(row, "  gpx-srv.1  ")) << row;
  const std::string wide = Lines(RenderFindings(response, Options(true)))[1];
  EXPECT_TRUE(absl::StrContains(wide, "gpx-cli.1.jv5rd47ey9nutvqzfed7jvk77"));
  EXPECT_TRUE(absl::StrContains(wide, "gpx-srv.1.51pobf5rrfw66bof7wosx40np"));
}

TEST(RenderTest, NoFindingsRenderNothing) {
  EXPECT_EQ(RenderFindings(v1::ListFindingsResponse(), Options()), "");
  EXPECT_EQ(RenderSockets(v1::ListSocketsResponse(), Options()), "");
  EXPECT_EQ(RenderNodes(v1::ListNodesResponse(), Options()), "");
}

TEST(RenderTest, JsonUsesProtoFieldNamesAndRoundTrips) {
  v1::ListFindingsResponse response;
  *response.add_findings() = VanishedFinding();
  auto json = ToJson(response, JsonStyle::kDocument);
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* name :
       {"\"findings\"", "\"peer_last_owner\"", "\"bytes_at_risk\"",
        "\"first_seen\"", "\"remote_ip\"", "\"send_queue\"", "\"tcp_info\"",
        "\"last_ack_recv_ms\"", "\"VANISHED_PEER\"", "\"CRITICAL\"",
        "\"TCP_STATE_CLOSE_WAIT\""}) {
    EXPECT_TRUE(absl::StrContains(*json, name)) << name;
  }
  // Scalars at their default are printed, so scripts always find the key;
  // unset messages stay absent.
  EXPECT_TRUE(absl::StrContains(*json, "\"recv_queue\": 0")) << *json;
  EXPECT_FALSE(absl::StrContains(*json, "\"resolved_at\"")) << *json;
  v1::ListFindingsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(parsed, response));

  auto empty = ToJson(v1::ListFindingsResponse(), JsonStyle::kDocument);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(absl::StrContains(*empty, "\"findings\": []")) << *empty;
}

TEST(RenderTest, JsonLineIsOneLine) {
  v1::FindingEvent event;
  event.set_type(v1::OPENED);
  *event.mutable_finding() = VanishedFinding();
  auto line = ToJson(event, JsonStyle::kLine);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(std::count(line->begin(), line->end(), '\n'), 1);
  EXPECT_EQ(line->back(), '\n');
  EXPECT_TRUE(absl::StartsWith(*line, "{\"type\":\"OPENED\""));
}

TEST(RenderTest, CheckLinesAreBrief) {
  v1::ListFindingsResponse response;
  *response.add_findings() = VanishedFinding();
  EXPECT_EQ(
      RenderFindingLines(response, Options()),
      "CRITICAL  vanished  gpx-cli.1 on node-1 is writing to "
      "10.99.0.2:27017, which belonged to gpx-srv.1 until 12:03:04 UTC; "
      "nobody holds it now; the peer had closed the connection; "
      "1.8 KB at risk. Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the "
      "client so it notices by itself: its kernel would otherwise keep "
      "retrying for about 15m15s more\n");
}

TEST(RenderTest, SocketsTableAndTruncationNote) {
  v1::ListSocketsResponse response;
  *response.add_sockets() = VanishedFinding().socket();
  v1::SocketRecord bare;
  bare.set_node("node-2");
  bare.set_local_ip("127.0.0.1");
  bare.set_local_port(7070);
  bare.set_remote_ip("127.0.0.1");
  bare.set_remote_port(50000);
  bare.set_state(v1::TCP_STATE_ESTABLISHED);
  *response.add_sockets() = bare;
  v1::SocketRecord listener;
  listener.set_node("node-2");
  listener.set_local_ip("::");
  listener.set_local_port(7070);
  listener.set_remote_ip("::");
  listener.set_state(v1::TCP_STATE_LISTEN);
  listener.set_send_queue(4096);
  listener.mutable_tcp_info()->set_last_ack_recv_ms(4000);
  *response.add_sockets() = listener;

  std::vector<std::string> lines = Lines(RenderSockets(response, Options()));
  ASSERT_EQ(lines.size(), 4u);
  // (The translated and UDP sockets: SocketsShowBackendsAndUdp.)
  EXPECT_EQ(lines[0],
            "NODE    CLIENT     PROCESS    LOCAL            PEER             "
            "STATE        SEND-Q  RECV-Q  BACKOFF  UNACKED  LAST ACK");
  EXPECT_EQ(lines[1],
            "node-1  gpx-cli.1  logc/4242  10.99.0.3:43318  10.99.0.2:27017  "
            "CLOSE_WAIT     1833       0        6        1       13s");
  EXPECT_EQ(lines[2],
            "node-2  host       -          127.0.0.1:7070   127.0.0.1:50000  "
            "ESTABLISHED       0       0        -        -         -");
  EXPECT_EQ(lines[3],
            "node-2  host       -          [::]:7070        *                "
            "LISTEN         4096       0        -        -         -");

  response.set_truncated(true);
  const std::string truncated = RenderSockets(response, Options());
  EXPECT_TRUE(absl::StrContains(truncated, "first 3 sockets only"))
      << truncated;
  EXPECT_TRUE(
      absl::StrContains(RenderSockets(response, Options(true)), "NOTSENT"));
}

// Aggregator replicas sharing a store: the nodes another replica serves
// are named with it, after the table or alone.
TEST(RenderTest, SocketsNameTheReplicaServingOtherNodes) {
  v1::ListSocketsResponse response;
  (*response.mutable_served_elsewhere())["node-7"] = "agg-2:7070";
  (*response.mutable_served_elsewhere())["node-3"] = "agg-1:7070";
  EXPECT_EQ(RenderSockets(response, Options()),
            "(node node-3: its agent streams to aggregator replica "
            "agg-1:7070, which holds its sockets)\n"
            "(node node-7: its agent streams to aggregator replica "
            "agg-2:7070, which holds its sockets)\n");
  v1::SocketRecord socket;
  socket.set_node("node-1");
  *response.add_sockets() = socket;
  EXPECT_TRUE(absl::StrContains(RenderSockets(response, Options()),
                                "\n\n(node node-3: its agent streams to"));
}

TEST(RenderTest, SocketsAndFindingsShowBackendsAndUdp) {
  v1::ListSocketsResponse response;
  v1::SocketRecord vip = VanishedFinding().socket();
  vip.set_state(v1::TCP_STATE_ESTABLISHED);
  vip.set_remote_ip("10.99.0.9");
  vip.set_remote_port(5432);
  vip.set_backend_ip("10.99.0.2");
  vip.set_backend_port(27017);
  vip.set_translated_by(v1::TRANSLATOR_IPVS);
  *response.add_sockets() = vip;
  v1::SocketRecord udp = VanishedFinding().socket();
  udp.set_protocol(v1::PROTOCOL_UDP);
  udp.set_state(v1::TCP_STATE_ESTABLISHED);
  udp.set_remote_port(514);
  udp.set_send_queue(0);
  udp.clear_tcp_info();
  *response.add_sockets() = udp;
  std::vector<std::string> lines = Lines(RenderSockets(response, Options()));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1],
            "node-1  gpx-cli.1  logc/4242  10.99.0.3:43318  10.99.0.9:543"
            "2 -> 10.99.0.2:27017  ESTABLISHED    1833       0        6  "
            "      1       13s");
  EXPECT_EQ(lines[2],
            "node-1  gpx-cli.1  logc/4242  10.99.0.3:43318  10.99.0.2:514"
            "                      UDP               0       0        -  "
            "      -         -");

  v1::ListFindingsResponse findings;
  v1::Finding finding = VanishedFinding();
  *finding.mutable_socket() = vip;
  finding.mutable_vip_owner()->set_kind(v1::OWNER_KIND_SWARM_VIP);
  finding.mutable_vip_owner()->set_service("db");
  *findings.add_findings() = finding;
  lines = Lines(RenderFindings(findings, Options()));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(absl::StrContains(lines[1], "10.99.0.9:5432 -> 10.99.0.2:27017"))
      << lines[1];

  auto json = ToJson(findings, JsonStyle::kDocument);
  ASSERT_TRUE(json.ok());
  for (const char* name :
       {"\"backend_ip\": \"10.99.0.2\"", "\"backend_port\": 27017",
        "\"translated_by\": \"TRANSLATOR_IPVS\"", "\"vip_owner\"",
        "\"previous_kind\": \"FINDING_KIND_UNSPECIFIED\"",
        "\"protocol\": \"PROTOCOL_UNSPECIFIED\""}) {
    EXPECT_TRUE(absl::StrContains(*json, name)) << name << "\n" << *json;
  }
}

TEST(RenderTest, NodesTableSortedByName) {
  v1::ListNodesResponse response;
  v1::NodeStatus* b = response.add_nodes();
  b->set_node("node-b");
  b->set_connected(false);
  *b->mutable_last_report() = ToProto(TestNow() - absl::Minutes(5));
  b->set_agent_version("0.1.0");
  b->set_docker_status("unavailable: connection refused");
  v1::NodeStatus* a = response.add_nodes();
  a->set_node("node-a");
  a->set_connected(true);
  *a->mutable_last_report() = ToProto(TestNow() - absl::Seconds(3));
  *a->mutable_lag() = ToProto(absl::Milliseconds(120));
  a->set_agent_version("0.1.0");
  a->set_namespaces_seen(12);
  a->set_namespaces_failed(1);
  a->set_sockets(4321);
  a->set_docker_status("connected");
  a->set_kernel("6.18.0");
  a->set_served_by("agg-1:7070");
  a->set_translation_status("ok");
  a->set_ipvs_namespaces(3);
  a->set_ipvs_blackhole_namespaces(1);
  b->set_translation_status("unavailable: translations are turned off");
  a->set_remediation_enabled(true);
  b->set_remediation_refusal("started without --remediation");

  // The managers lost node-c: down for 45 s, its addresses closed; its
  // agent went silent 1m ago (its stream still looks open).
  v1::NodeStatus* c = response.add_nodes();
  c->set_node("node-c");
  c->set_connected(true);
  *c->mutable_last_contact() = ToProto(TestNow() - absl::Minutes(1));
  *c->mutable_last_report() = ToProto(TestNow() - absl::Minutes(1));
  c->set_agent_version("0.1.0");
  c->mutable_swarm()->set_state(v1::SWARM_NODE_STATE_DOWN);
  *c->mutable_swarm()->mutable_state_since() =
      ToProto(TestNow() - absl::Seconds(45));
  c->set_lost(true);
  *a->mutable_last_contact() = ToProto(TestNow() - absl::Seconds(3));
  a->mutable_swarm()->set_state(v1::SWARM_NODE_STATE_READY);
  *a->mutable_swarm()->mutable_state_since() =
      ToProto(TestNow() - absl::Hours(2));
  // A node only the managers know: no agent runs there.
  v1::NodeStatus* d = response.add_nodes();
  d->set_node("node-d");
  d->mutable_swarm()->set_state(v1::SWARM_NODE_STATE_READY);

  std::vector<std::string> lines = Lines(RenderNodes(response, Options()));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(
      lines[0],
      "NODE    SWARM           AGENT      LAST REPORT    LAG  VERSI"
      "ON  NAMESPACES  FAILED  SOCKETS  DOCKER                     "
      "      VIPS                                      LB BLACKHOLE  REMEDIATI"
      "ON");
  EXPECT_EQ(lines[1],
            "node-a  ready           reporting  3s ago       120ms  0.1.0"
            "            12       1     4321  connected                  "
            "      ok                                                 1/3  on");
  EXPECT_EQ(
      lines[2],
      "node-b  -               silent 5m  5m ago           -  0.1.0"
      "             0       0        0  unavailable: connection ref"
      "used  unavailable: translations are turned off             -  off: st"
      "arted without --remediation");
  EXPECT_EQ(
      lines[3],
      "node-c  down 45s, lost  silent 1m  1m ago           -  0.1.0"
      "             0       0        0  -                          "
      "      unknown                                              -  off");
  EXPECT_EQ(lines[4],
            "node-d  ready           none       -                -  -    "
            "             0       0        0  -                          "
            "      -                                                    -  -");
  const std::string wide = RenderNodes(response, Options(true));
  EXPECT_TRUE(absl::StrContains(wide, "6.18.0"));
  EXPECT_TRUE(absl::StrContains(wide, "SERVED BY")) << wide;
  EXPECT_TRUE(absl::StrContains(wide, "6.18.0  agg-1:7070")) << wide;
}

TEST(RenderTest, FindingEventLinesCarryTheirOwnTime) {
  v1::FindingEvent opened;
  opened.set_type(v1::OPENED);
  *opened.mutable_finding() = VanishedFinding();
  EXPECT_EQ(
      RenderFindingEvent(opened, Options()),
      "12:04:00  OPENED   CRITICAL  vanished           gpx-cli.1 on "
      "node-1 is writing to 10.99.0.2:27017, which belonged to gpx-srv.1 "
      "until 12:03:04 UTC; nobody holds it now; the peer had closed the "
      "connection; "
      "1.8 KB at risk. Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the "
      "client so it notices by itself: its kernel would otherwise keep "
      "retrying for about 15m15s more\n");

  v1::FindingEvent closed = opened;
  closed.set_type(v1::CLOSED);
  closed.mutable_finding()->set_status(v1::RESOLVED);
  *closed.mutable_finding()->mutable_resolved_at() =
      ToProto(TestNow() - absl::Seconds(1));
  const std::string line = RenderFindingEvent(closed, Options());
  EXPECT_TRUE(absl::StartsWith(line, "12:09:59  CLOSED ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "(resolved 12:09:59 UTC)")) << line;

  v1::FindingEvent untimed;
  untimed.set_type(v1::UPDATED);
  untimed.mutable_finding()->set_kind(v1::CLOSE_WAIT_WRITER);
  EXPECT_TRUE(absl::StartsWith(RenderFindingEvent(untimed, Options()),
                               "12:10:00  UPDATED"));
}

namespace remediation_render {

// An order for VanishedFinding's socket, decided at 12:05:00 by the policy
// and answered "destroyed" at 12:05:01.
v1::Remediation Destroyed() {
  v1::Remediation r;
  r.set_id("r-7");
  r.set_finding_id("4f1c0a9e2b7d3c55");
  r.set_finding_kind(v1::VANISHED_PEER);
  r.set_node("node-1");
  *r.mutable_socket() = VanishedFinding().socket();
  r.set_peer_ip("10.99.0.2");
  r.set_mode(v1::REMEDIATION_MODE_AUTO);
  r.set_requested_by("policy");
  r.set_decision(v1::REMEDIATION_DECISION_ORDERED);
  r.set_reason("confirmed vanished peer, data unacknowledged");
  *r.mutable_decided_at() = ToProto(TestNow() - absl::Minutes(5));
  r.set_attempts(1);
  r.mutable_outcome()->set_outcome(v1::REMEDIATION_DESTROYED);
  *r.mutable_outcome_received_at() =
      ToProto(TestNow() - absl::Minutes(5) + absl::Seconds(1));
  r.set_service("gpx-cli");
  return r;
}

TEST(RenderTest, RemediationsTableSaysWhatWasDoneAndWhy) {
  v1::ListRemediationsResponse response;
  *response.add_remediations() = Destroyed();
  // A bare process whose kernel refused: the errno and the detail.
  v1::Remediation failed = Destroyed();
  failed.mutable_socket()->clear_task();
  failed.mutable_socket()->clear_container_name();
  failed.mutable_socket()->clear_service();
  failed.set_requested_by("manual: alice (ipv4:10.0.0.5:51234)");
  failed.mutable_outcome()->set_outcome(v1::REMEDIATION_FAILED);
  failed.mutable_outcome()->set_error_number(1);
  failed.mutable_outcome()->set_detail("SOCK_DESTROY: Operation not permitted");
  *response.add_remediations() = failed;
  // Still waiting for the agent; and one the guards declined.
  v1::Remediation pending = Destroyed();
  pending.clear_outcome();
  *response.add_remediations() = pending;
  v1::Remediation declined = Destroyed();
  declined.clear_outcome();
  declined.set_mode(v1::REMEDIATION_MODE_DRY_RUN);
  declined.set_decision(v1::REMEDIATION_DECISION_DECLINED);
  declined.set_reason("node-1's report is stale\x1b[2J");
  *response.add_remediations() = declined;

  std::vector<std::string> lines =
      Lines(RenderRemediations(response, Options()));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0],
            "WHEN      NODE    CLIENT     PEER             MODE     BY       "
            "                     DECISION  OUTCOME    DETAIL");
  EXPECT_EQ(lines[1],
            "12:05:00  node-1  gpx-cli.1  10.99.0.2:27017  auto     policy   "
            "                     ordered   destroyed  confirmed vanished "
            "peer, data unacknowledged");
  EXPECT_EQ(lines[2],
            "12:05:00  node-1  logc/4242  10.99.0.2:27017  auto     manual: "
            "alice (ipv4:10.0.0.\u2026  ordered   failed     errno 1: "
            "SOCK_DESTROY: Operation not permitted");
  EXPECT_EQ(lines[3],
            "12:05:00  node-1  gpx-cli.1  10.99.0.2:27017  auto     policy   "
            "                     ordered   pending    confirmed vanished "
            "peer, data unacknowledged");
  // Control characters from a reason never reach the terminal.
  EXPECT_EQ(lines[4],
            "12:05:00  node-1  gpx-cli.1  10.99.0.2:27017  dry-run  policy   "
            "                     declined  -          node-1's report is "
            "stale?[2J");

  const std::string wide = RenderRemediations(response, Options(true));
  EXPECT_TRUE(absl::StrContains(wide, "4f1c0a9e2b7d3c55")) << wide;
  EXPECT_TRUE(absl::StrContains(wide, "12:05:01")) << wide;
  EXPECT_TRUE(absl::StrContains(wide, "manual: alice (ipv4:10.0.0.5:51234)"));
  EXPECT_EQ(RenderRemediations(v1::ListRemediationsResponse(), Options()), "");
}

TEST(RenderTest, RemediationDecisionSaysItPlainly) {
  v1::Remediation ordered = Destroyed();
  ordered.clear_outcome();
  EXPECT_EQ(RenderRemediationDecision(ordered, Options()),
            "ordered: the agent on node-1 will destroy the socket of "
            "gpx-cli.1 to 10.99.0.2:27017 after checking again that it is "
            "still a ghost\n"
            "  why: confirmed vanished peer, data unacknowledged\n"
            "  recorded as r-7; follow it with: ghostpeer remediations "
            "--finding 4f1c0a9e2b7d3c55\n");

  v1::Remediation dry = ordered;
  dry.set_decision(v1::REMEDIATION_DECISION_WOULD_DESTROY);
  dry.clear_reason();
  EXPECT_EQ(RenderRemediationDecision(dry, Options()),
            "would destroy: the socket of gpx-cli.1 on node-1 to "
            "10.99.0.2:27017 passes every guard; nothing was touched (dry "
            "run)\n"
            "  recorded as r-7; follow it with: ghostpeer remediations "
            "--finding 4f1c0a9e2b7d3c55\n");

  v1::Remediation declined = ordered;
  declined.set_decision(v1::REMEDIATION_DECISION_DECLINED);
  declined.set_reason("a close-wait writer's peer is alive");
  EXPECT_TRUE(absl::StartsWith(
      RenderRemediationDecision(declined, Options()),
      "refused: a close-wait writer's peer is alive\n  recorded as r-7"));
  v1::Remediation limited = ordered;
  limited.set_decision(v1::REMEDIATION_DECISION_RATE_LIMITED);
  limited.set_reason("node-1: 5 in the last minute");
  EXPECT_TRUE(absl::StartsWith(
      RenderRemediationDecision(limited, Options()),
      "refused: rate limit reached: node-1: 5 in the last minute\n"));
}

TEST(RenderTest, FindingsAndEventsSayWhatWasDone) {
  v1::Finding finding = VanishedFinding();
  finding.set_story("the story");
  finding.set_remediation(
      "destroyed the socket at 12:05:01 UTC (policy, auto); the client saw "
      "the error");
  v1::ListFindingsResponse response;
  *response.add_findings() = finding;
  const std::string rendered = RenderFindings(response, Options());
  EXPECT_TRUE(absl::EndsWith(rendered,
                             "\nthe story\n"
                             "  remediation: destroyed the socket at 12:05:01 "
                             "UTC (policy, auto); the client saw the error\n"))
      << rendered;
  v1::FindingEvent event;
  event.set_type(v1::UPDATED);
  *event.mutable_finding() = finding;
  EXPECT_TRUE(absl::EndsWith(RenderFindingEvent(event, Options()),
                             "the story [remediation: destroyed the socket at "
                             "12:05:01 UTC (policy, auto); the client saw the "
                             "error]\n"));
  // Without a decision, nothing is added.
  finding.clear_remediation();
  *response.mutable_findings(0) = finding;
  EXPECT_FALSE(
      absl::StrContains(RenderFindings(response, Options()), "remediation"));
  // JSON carries it under its proto name.
  auto json = ToJson(event, JsonStyle::kLine);
  ASSERT_TRUE(json.ok());
  EXPECT_TRUE(absl::StrContains(*json, "\"remediation\":\"destroyed the"))
      << *json;
}

}  // namespace remediation_render

}  // namespace
}  // namespace ghostpeer::cli
