#include "aggregator/validation.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Attach;
using testing::Container;
using testing::Full;
using ::testing::HasSubstr;
using testing::Socket;
using testing::SocketSpec;
using testing::T;

const absl::Time kNow = T(1000);

struct BatchCase {
  std::string name;
  std::function<void(v1::AddressEventBatch*)> mutate;
  std::string error;  // substring; empty: valid
};

v1::AddressEventBatch GoodBatch() {
  v1::AddressEventBatch batch;
  *batch.add_events() = Attach(1, T(900), Container("10.0.1.6", "srv.1"));
  *batch.add_events() = testing::Inventory(
      2, T(950), {Container("10.0.1.6", "srv.1"), Container("fd00::7", "b")});
  return batch;
}

TEST(ValidateAddressEventBatchTest, Table) {
  const std::vector<BatchCase> cases = {
      {"good", [](auto*) {}, ""},
      {"seq zero", [](auto* b) { b->mutable_events(0)->set_seq(0); },
       "events[0].seq: must be > 0"},
      {"address with a newline cannot forge a log line",
       [](auto* b) {
         b->mutable_events(0)->mutable_owner()->set_address(
             "10.0.0.1\n[info] ingest: node 'x' connected");
       },
       "'10.0.0.1\\n[info] ingest: node 'x' connected' is not an IP address"},
      {"address of invalid utf-8 is quoted escaped",
       [](auto* b) {
         b->mutable_events(0)->mutable_owner()->set_address("10.0.0.\xff");
       },
       "'10.0.0.\\xff' is not an IP address"},
      {"seq not increasing", [](auto* b) { b->mutable_events(1)->set_seq(1); },
       "events[1].seq: 1 does not follow 1"},
      {"unknown type",
       [](auto* b) {
         b->mutable_events(0)->set_type(static_cast<v1::AddressEventType>(9));
       },
       "events[0].type: unknown event type 9"},
      {"unspecified type",
       [](auto* b) {
         b->mutable_events(0)->set_type(v1::ADDRESS_EVENT_TYPE_UNSPECIFIED);
       },
       "unknown event type 0"},
      {"unknown source",
       [](auto* b) {
         b->mutable_events(0)->set_source(
             static_cast<v1::AddressEventSource>(42));
       },
       "events[0].source"},
      {"missing time", [](auto* b) { b->mutable_events(0)->clear_time(); },
       "events[0].time: missing"},
      {"far past",
       [](auto* b) {
         *b->mutable_events(0)->mutable_time() =
             ToProto(absl::FromUnixSeconds(86400));
       },
       "before any possible observation"},
      {"far future",
       [](auto* b) {
         *b->mutable_events(0)->mutable_time() = ToProto(kNow + absl::Hours(1));
       },
       "ahead of the aggregator's clock"},
      {"bad nanos",
       [](auto* b) { b->mutable_events(0)->mutable_time()->set_nanos(-1); },
       "nanos"},
      {"bad owner address",
       [](auto* b) {
         b->mutable_events(0)->mutable_owner()->set_address("10.0.0.300");
       },
       "events[0].owner.address: '10.0.0.300' is not an IP address"},
      {"missing owner", [](auto* b) { b->mutable_events(0)->clear_owner(); },
       "events[0].owner: missing"},
      {"unknown owner kind",
       [](auto* b) {
         b->mutable_events(0)->mutable_owner()->set_kind(
             static_cast<v1::OwnerKind>(17));
       },
       "events[0].owner.kind"},
      {"bad inventory member",
       [](auto* b) {
         b->mutable_events(1)->mutable_inventory(1)->set_address("nope");
       },
       "events[1].inventory[1].address"},
      {"overlong string",
       [](auto* b) {
         b->mutable_events(0)->mutable_owner()->set_service(
             std::string(2000, 's'));
       },
       "events[0].owner.service: longer than 1024"},
      {"too many events",
       [](auto* b) {
         for (int i = 0; i < 10001; ++i) {
           *b->add_events() =
               Attach(10 + i, T(900), Container("10.0.1.6", "x"));
         }
       },
       "more than 10000"},
  };
  for (const BatchCase& c : cases) {
    v1::AddressEventBatch batch = GoodBatch();
    c.mutate(&batch);
    absl::Status status =
        ValidateAddressEventBatch(&batch, "node-2", kNow, ValidationLimits());
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.name;
      // Errors are logged: whatever was sent, one line.
      EXPECT_EQ(status.message().find('\n'), absl::string_view::npos) << c.name;
    }
  }
}

TEST(ValidateAddressEventBatchTest, NormalisesAndClamps) {
  v1::AddressEventBatch batch;
  v1::AddressOwner owner = Container("::ffff:10.0.1.6", "srv.1");
  owner.clear_node();
  owner.mutable_since()->set_seconds(5);  // not the agent's to set
  *batch.add_events() = Attach(1, kNow + absl::Minutes(2), owner);
  ASSERT_TRUE(
      ValidateAddressEventBatch(&batch, "node-2", kNow, ValidationLimits())
          .ok());
  const v1::AddressEvent& event = batch.events(0);
  EXPECT_EQ(event.owner().address(), "10.0.1.6");
  EXPECT_EQ(event.owner().node(), "node-2");
  EXPECT_FALSE(event.owner().has_since());
  EXPECT_EQ(FromProto(event.time()), kNow);  // slightly ahead: clamped
}

struct SnapshotCase {
  std::string name;
  std::function<void(v1::SocketSnapshot*)> mutate;
  std::string error;
};

v1::SocketSnapshot GoodSnapshot() {
  v1::SocketSnapshot snapshot = Full(1, T(990), {Socket(SocketSpec{})});
  v1::NamespaceInfo* ns = snapshot.mutable_snapshot()->add_namespaces();
  ns->set_inode(4026532625);
  v1::InterfaceAddress* address = ns->add_addresses();
  address->set_address("10.0.1.8");
  address->set_prefix_len(24);
  address->set_interface("eth0");
  ns->set_status(v1::NAMESPACE_STATUS_OK);
  return snapshot;
}

v1::SocketRecord* First(v1::SocketSnapshot* s) {
  return s->mutable_snapshot()->mutable_sockets(0);
}

TEST(ValidateRemediationRequestsTest, FindingIdsNodesAndLimits) {
  v1::RemediateRequest remediate;
  remediate.set_finding_id("0123456789ABCDEF");
  ASSERT_TRUE(ValidateRemediateRequest(&remediate).ok());
  EXPECT_EQ(remediate.finding_id(), "0123456789abcdef");
  for (const std::string bad :
       {"", "f-1", "0123456789abcdef0", " 0123456789abcde"}) {
    remediate.set_finding_id(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateRemediateRequest(&remediate)))
        << bad;
  }
  v1::ListRemediationsRequest list;
  EXPECT_TRUE(ValidateListRemediationsRequest(&list).ok());
  list.set_limit(kMaxListedRemediations);
  list.set_node("node-1");
  EXPECT_TRUE(ValidateListRemediationsRequest(&list).ok());
  list.set_limit(kMaxListedRemediations + 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateListRemediationsRequest(&list)));
}

TEST(ValidateSocketSnapshotTest, Table) {
  const std::vector<SnapshotCase> cases = {
      {"good", [](auto*) {}, ""},
      {"snapshot id zero", [](auto* s) { s->set_snapshot_id(0); },
       "snapshot_id: must be > 0"},
      {"delta without base", [](auto* s) { s->set_full(false); },
       "base_snapshot_id"},
      {"full with removed keys",
       [](auto* s) { s->add_removed()->set_local_ip("10.0.0.1"); },
       "a full snapshot removes nothing"},
      {"other node", [](auto* s) { s->mutable_snapshot()->set_node("node-9"); },
       "snapshot.node: 'node-9'"},
      {"socket of another node", [](auto* s) { First(s)->set_node("node-9"); },
       "snapshot.sockets[0].node"},
      {"missing taken_at",
       [](auto* s) { s->mutable_snapshot()->clear_taken_at(); },
       "snapshot.taken_at: missing"},
      {"taken_at far ahead",
       [](auto* s) {
         *s->mutable_snapshot()->mutable_taken_at() =
             ToProto(kNow + absl::Minutes(6));
       },
       "ahead of the aggregator's clock"},
      {"bad remote ip", [](auto* s) { First(s)->set_remote_ip("10.0.1"); },
       "snapshot.sockets[0].remote_ip"},
      {"missing local ip", [](auto* s) { First(s)->clear_local_ip(); },
       "snapshot.sockets[0].local_ip: missing"},
      {"port out of range", [](auto* s) { First(s)->set_remote_port(70000); },
       "snapshot.sockets[0].remote_port: 70000 is not a port"},
      {"unknown state",
       [](auto* s) { First(s)->set_state(static_cast<v1::TcpState>(13)); },
       "unknown TCP state 13"},
      {"unspecified state",
       [](auto* s) { First(s)->set_state(v1::TCP_STATE_UNSPECIFIED); },
       "unknown TCP state 0"},
      {"unknown capture source",
       [](auto* s) { First(s)->set_source(static_cast<v1::CaptureSource>(5)); },
       "unknown capture source"},
      // Translations and UDP (detector rules 7 and 8).
      {"translated socket",
       [](auto* s) {
         First(s)->set_backend_ip("10.0.1.9");
         First(s)->set_backend_port(5432);
         First(s)->set_translated_by(v1::TRANSLATOR_IPVS);
         First(s)->set_translation_netns_inode(4026532001);
       },
       ""},
      {"bad backend ip",
       [](auto* s) { First(s)->set_backend_ip("10.0.1.300"); },
       "snapshot.sockets[0].backend_ip"},
      {"backend port out of range",
       [](auto* s) {
         First(s)->set_backend_ip("10.0.1.9");
         First(s)->set_backend_port(65536);
       },
       "snapshot.sockets[0].backend_port: 65536 is not a port"},
      {"translation described without a backend",
       [](auto* s) { First(s)->set_translated_by(v1::TRANSLATOR_CONNTRACK); },
       "backend_ip: missing while the translation is described"},
      {"backend port without a backend",
       [](auto* s) { First(s)->set_backend_port(80); }, "backend_ip: missing"},
      {"unknown translator",
       [](auto* s) {
         First(s)->set_backend_ip("10.0.1.9");
         First(s)->set_translated_by(static_cast<v1::Translator>(3));
       },
       "unknown translator 3"},
      {"udp socket", [](auto* s) { First(s)->set_protocol(v1::PROTOCOL_UDP); },
       ""},
      {"udp socket without a tcp state",
       [](auto* s) {
         First(s)->set_protocol(v1::PROTOCOL_UDP);
         First(s)->set_state(v1::TCP_STATE_UNSPECIFIED);
       },
       ""},
      {"unknown protocol",
       [](auto* s) { First(s)->set_protocol(static_cast<v1::Protocol>(17)); },
       "unknown protocol 17"},
      {"ipvs settings as read, or unreadable",
       [](auto* s) {
         v1::IpvsSettings* ipvs =
             s->mutable_snapshot()->mutable_namespaces(0)->mutable_ipvs();
         ipvs->set_expire_nodest_conn(0);
         ipvs->set_expire_quiescent_template(-1);
         ipvs->set_conn_reuse_mode(1);
       },
       ""},
      {"ipvs setting no sysctl holds",
       [](auto* s) {
         s->mutable_snapshot()
             ->mutable_namespaces(0)
             ->mutable_ipvs()
             ->set_expire_nodest_conn(7);
       },
       "snapshot.namespaces[0].ipvs.expire_nodest_conn: 7"},
      {"negative ipvs setting",
       [](auto* s) {
         s->mutable_snapshot()
             ->mutable_namespaces(0)
             ->mutable_ipvs()
             ->set_conn_reuse_mode(-5);
       },
       "ipvs.conn_reuse_mode"},
      {"translation error too long",
       [](auto* s) {
         s->mutable_snapshot()->mutable_namespaces(0)->set_translation_error(
             std::string(1025, 'x'));
       },
       "snapshot.namespaces[0].translation_error: longer than 1024"},
      {"translation status too long",
       [](auto* s) {
         s->mutable_snapshot()->set_translation_status(std::string(1025, 'x'));
       },
       "snapshot.translation_status: longer than 1024"},
      {"removed key of an unknown protocol",
       [](auto* s) {
         s->set_full(false);
         s->set_base_snapshot_id(1);
         v1::SocketKey* key = s->add_removed();
         key->set_local_ip("10.0.1.8");
         key->set_remote_ip("10.0.1.6");
         key->set_protocol(static_cast<v1::Protocol>(9));
       },
       "removed[0].protocol"},
      {"negative pid", [](auto* s) { First(s)->set_pid(-3); }, "pid"},
      {"bad namespace address",
       [](auto* s) {
         s->mutable_snapshot()
             ->mutable_namespaces(0)
             ->mutable_addresses(0)
             ->set_address("x");
       },
       "snapshot.namespaces[0].addresses[0].address"},
      {"bad prefix length",
       [](auto* s) {
         s->mutable_snapshot()
             ->mutable_namespaces(0)
             ->mutable_addresses(0)
             ->set_prefix_len(129);
       },
       "prefix_len"},
      {"unknown namespace status",
       [](auto* s) {
         s->mutable_snapshot()->mutable_namespaces(0)->set_status(
             static_cast<v1::NamespaceStatus>(8));
       },
       "unknown namespace status"},
      {"bad removed key",
       [](auto* s) {
         s->set_full(false);
         s->set_base_snapshot_id(1);
         v1::SocketKey* key = s->add_removed();
         key->set_local_ip("10.0.1.8");
         key->set_remote_ip("10.0.1.6");
         key->set_remote_port(65536);
       },
       "removed[0].remote_port"},
      {"too many sockets",
       [](auto* s) {
         for (int i = 0; i < 250001; ++i) {
           *s->mutable_snapshot()->add_sockets() = s->snapshot().sockets(0);
         }
       },
       "more than 250000"},
  };
  for (const SnapshotCase& c : cases) {
    v1::SocketSnapshot snapshot = GoodSnapshot();
    c.mutate(&snapshot);
    absl::Status status =
        ValidateSocketSnapshot(&snapshot, "node-1", kNow, ValidationLimits());
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.name;
    }
  }
}

// A manager's services' ghostpeer.remediation labels: whoever may create a
// service writes them, so odd ones are dropped, never the snapshot.
TEST(ValidateSocketSnapshotTest, KeepsPlausibleServiceRemediationLabels) {
  v1::SocketSnapshot snapshot = GoodSnapshot();
  auto& labels = *snapshot.mutable_snapshot()->mutable_service_remediation();
  labels["orders"] = "auto";
  labels["billing"] = "dry-run";
  labels["shouty"] = "OFF";  // kept raw: the policy judges the value
  labels[""] = "auto";
  labels["with space"] = "auto";
  labels[std::string(300, 's')] = "auto";
  labels["escape"] = "off\x1b[2J";
  labels["long"] = std::string(65, 'a');
  labels["empty"] = "";
  labels["utf8"] = "d\xc3\xa9sactiv\xc3\xa9";
  ASSERT_TRUE(
      ValidateSocketSnapshot(&snapshot, "node-1", kNow, ValidationLimits())
          .ok());
  std::map<std::string, std::string> kept(labels.begin(), labels.end());
  EXPECT_EQ(kept, (std::map<std::string, std::string>{{"billing", "dry-run"},
                                                      {"orders", "auto"},
                                                      {"shouty", "OFF"}}));

  ValidationLimits small;
  small.max_labelled_services_per_snapshot = 2;
  absl::Status refused =
      ValidateSocketSnapshot(&snapshot, "node-1", kNow, small);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_THAT(refused.message(),
              ::testing::HasSubstr("snapshot.service_remediation"));
}

TEST(ValidateSocketSnapshotTest, NormalisesAddressesAndFillsNode) {
  v1::SocketSnapshot snapshot = GoodSnapshot();
  First(&snapshot)->clear_node();
  First(&snapshot)->set_remote_ip("::ffff:10.0.1.6");
  snapshot.mutable_snapshot()->clear_node();
  ASSERT_TRUE(
      ValidateSocketSnapshot(&snapshot, "node-1", kNow, ValidationLimits())
          .ok());
  EXPECT_EQ(snapshot.snapshot().sockets(0).remote_ip(), "10.0.1.6");
  EXPECT_EQ(snapshot.snapshot().sockets(0).node(), "node-1");
  EXPECT_EQ(snapshot.snapshot().node(), "node-1");
}

// Status lines may quote names from the node: shown on one line, valid
// UTF-8, like names; a backend compares like a remote address.
TEST(ValidateSocketSnapshotTest, NormalisesBackendsAndRepairsStatusLines) {
  v1::SocketSnapshot snapshot = GoodSnapshot();
  First(&snapshot)->set_backend_ip("FD00:0:0::0009");
  First(&snapshot)->set_backend_port(5432);
  snapshot.mutable_snapshot()->set_translation_status(
      "unavailable: lb_\xff\tdenied\n");
  snapshot.mutable_snapshot()->mutable_namespaces(0)->set_translation_error(
      "conntrack: \xc3(");
  ASSERT_TRUE(
      ValidateSocketSnapshot(&snapshot, "node-1", kNow, ValidationLimits())
          .ok());
  EXPECT_EQ(snapshot.snapshot().sockets(0).backend_ip(), "fd00::9");
  EXPECT_EQ(snapshot.snapshot().translation_status(),
            "unavailable: lb_\\xff\\tdenied\\n");
  EXPECT_EQ(snapshot.snapshot().namespaces(0).translation_error(),
            "conntrack: \\xc3(");
}

// A name from the node with a control character in it (a process may call
// itself "a\tb"; a service label may hold a newline) is shown escaped: were
// it refused, the one process would blind its whole node.
TEST(ValidateSocketSnapshotTest, RepairsControlCharactersInNamesFromTheNode) {
  v1::SocketSnapshot snapshot = GoodSnapshot();
  First(&snapshot)->set_comm("evil\tname\n");
  First(&snapshot)->set_task("db.1\x1b[31m");
  v1::NamespaceInfo* ns = snapshot.mutable_snapshot()->mutable_namespaces(0);
  ns->set_netns_name("ns\x7f");
  ns->mutable_addresses(0)->set_interface("eth\r0");
  ASSERT_TRUE(
      ValidateSocketSnapshot(&snapshot, "node-1", kNow, ValidationLimits())
          .ok());
  EXPECT_EQ(snapshot.snapshot().sockets(0).comm(), "evil\\tname\\n");
  EXPECT_EQ(snapshot.snapshot().sockets(0).task(), "db.1\\x1b[31m");
  EXPECT_EQ(snapshot.snapshot().namespaces(0).netns_name(), "ns\\x7f");
  EXPECT_EQ(snapshot.snapshot().namespaces(0).addresses(0).interface(),
            "eth\\r0");
}

TEST(ValidateAddressEventBatchTest, RepairsControlCharactersInOwnerNames) {
  v1::AddressEventBatch batch = GoodBatch();
  batch.mutable_events(0)->mutable_owner()->set_container_name("a\nb");
  batch.mutable_events(0)->mutable_owner()->set_service("svc\t");
  ASSERT_TRUE(
      ValidateAddressEventBatch(&batch, "node-1", kNow, ValidationLimits())
          .ok());
  EXPECT_EQ(batch.events(0).owner().container_name(), "a\\nb");
  EXPECT_EQ(batch.events(0).owner().service(), "svc\\t");
}

// A scope this build does not know reads as the narrower, node-local one;
// known scopes pass as sent.
TEST(ValidateAddressEventBatchTest, UnknownScopeBecomesNodeLocal) {
  v1::AddressOwner unknown = Container("10.0.1.6", "srv.1");
  unknown.set_scope(static_cast<v1::AddressScope>(7));
  v1::AddressOwner cluster = Container("10.0.1.7", "srv.2");
  cluster.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
  v1::AddressEventBatch batch;
  *batch.add_events() = Attach(1, T(900), unknown);
  *batch.add_events() = Attach(2, T(900), cluster);
  ASSERT_TRUE(
      ValidateAddressEventBatch(&batch, "node-1", kNow, ValidationLimits())
          .ok());
  EXPECT_EQ(batch.events(0).owner().scope(), v1::ADDRESS_SCOPE_NODE);
  EXPECT_EQ(batch.events(1).owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
}

TEST(ValidateAddressHistoryRequestTest, NodeIsOptionalButMustBeAName) {
  v1::GetAddressHistoryRequest request;
  request.set_address("172.18.0.3");
  EXPECT_TRUE(ValidateAddressHistoryRequest(&request).ok());
  request.set_node("node-2");
  EXPECT_TRUE(ValidateAddressHistoryRequest(&request).ok());
  request.set_node("node 2");
  EXPECT_EQ(ValidateAddressHistoryRequest(&request).code(),
            absl::StatusCode::kInvalidArgument);
}

struct HelloCase {
  std::string name;
  std::function<void(v1::Hello*)> mutate;
  std::string error;
};

TEST(ValidateHelloTest, Table) {
  const std::vector<HelloCase> cases = {
      {"good", [](auto*) {}, ""},
      {"no node", [](auto* h) { h->clear_node(); }, "node: missing"},
      {"node with space", [](auto* h) { h->set_node("node 1"); },
       "space or control"},
      {"overlong node", [](auto* h) { h->set_node(std::string(254, 'n')); },
       "longer than 253"},
      {"no instance", [](auto* h) { h->clear_agent_instance(); },
       "agent_instance: missing"},
      {"overlong kernel",
       [](auto* h) { h->set_kernel(std::string(5000, 'k')); }, "kernel"},
  };
  for (const HelloCase& c : cases) {
    v1::Hello hello;
    hello.set_node("node-1");
    hello.set_agent_instance("f3a9");
    hello.set_agent_version("0.1.0");
    hello.set_kernel("6.18.0");
    c.mutate(&hello);
    absl::Status status = ValidateHello(hello, ValidationLimits());
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.name;
    }
  }
}

struct OutcomeCase {
  std::string name;
  std::function<void(v1::RemediationOutcome*)> mutate;
  std::string error;  // substring; empty: valid
};

v1::RemediationOutcome GoodOutcome() {
  v1::RemediationOutcome outcome;
  outcome.set_order_id("9f3a61c0d2b4e857-1");
  outcome.set_outcome(v1::REMEDIATION_FAILED);
  outcome.set_detail("SOCK_DESTROY: Operation not supported");
  outcome.set_error_number(95);
  *outcome.mutable_at() = ToProto(kNow - absl::Seconds(1));
  return outcome;
}

TEST(ValidateRemediationOutcomeTest, Table) {
  const std::vector<OutcomeCase> cases = {
      {"good", [](auto*) {}, ""},
      {"no order id", [](auto* o) { o->clear_order_id(); },
       "order_id: missing"},
      {"unspecified outcome",
       [](auto* o) { o->set_outcome(v1::REMEDIATION_OUTCOME_UNSPECIFIED); },
       "outcome: unknown kind 0"},
      {"unknown outcome",
       [](auto* o) {
         o->set_outcome(static_cast<v1::RemediationOutcomeKind>(77));
       },
       "outcome: unknown kind 77"},
      {"negative errno", [](auto* o) { o->set_error_number(-1); },
       "-1 is no errno"},
      {"errno past MAX_ERRNO", [](auto* o) { o->set_error_number(4096); },
       "4096 is no errno"},
      {"overlong detail",
       [](auto* o) { o->set_detail(std::string(5000, 'd')); }, "detail"},
      {"no time", [](auto* o) { o->clear_at(); }, "at: missing"},
  };
  for (const OutcomeCase& c : cases) {
    v1::RemediationOutcome outcome = GoodOutcome();
    c.mutate(&outcome);
    absl::Status status =
        ValidateRemediationOutcome(&outcome, kNow, ValidationLimits());
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.name;
    }
  }
}

// Found by ingest_fuzzer: the detail was escaped on every validation, so a
// detail with a control character grew more escapes each time it was
// checked again, and a clean one with a backslash was changed.
TEST(ValidateRemediationOutcomeTest, RepairsDetailOnceAndOnlyWhenNeeded) {
  v1::RemediationOutcome outcome = GoodOutcome();
  outcome.set_detail("destroyed\n[info] forged line");
  ASSERT_TRUE(
      ValidateRemediationOutcome(&outcome, kNow, ValidationLimits()).ok());
  const std::string repaired = outcome.detail();
  EXPECT_EQ(repaired.find('\n'), std::string::npos) << repaired;
  ASSERT_TRUE(
      ValidateRemediationOutcome(&outcome, kNow, ValidationLimits()).ok());
  EXPECT_EQ(outcome.detail(), repaired);

  outcome.set_detail("refused: peer C:\\x");
  ASSERT_TRUE(
      ValidateRemediationOutcome(&outcome, kNow, ValidationLimits()).ok());
  EXPECT_EQ(outcome.detail(), "refused: peer C:\\x");
}

}  // namespace
}  // namespace ghostpeer::aggregator
