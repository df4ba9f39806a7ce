#include "agent/snapshot_output.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

v1::SocketRecord Socket(const std::string& remote, uint32_t send_queue,
                        v1::TcpState state, uint32_t backoff = 0) {
  v1::SocketRecord socket;
  socket.set_node("node-1");
  socket.set_netns_inode(42);
  socket.set_local_ip("10.99.0.3");
  socket.set_local_port(40000 + send_queue % 1000);
  socket.set_remote_ip(remote);
  socket.set_remote_port(27017);
  socket.set_state(state);
  socket.set_send_queue(send_queue);
  socket.mutable_tcp_info()->set_backoff(backoff);
  return socket;
}

v1::NodeSnapshot Snapshot() {
  v1::NodeSnapshot snapshot;
  snapshot.set_node("node-1");
  v1::NamespaceInfo* ns = snapshot.add_namespaces();
  ns->set_inode(42);
  ns->set_netns_name("gpx-cli");
  ns->set_status(v1::NAMESPACE_STATUS_OK);
  v1::NamespaceInfo* failed = snapshot.add_namespaces();
  failed->set_inode(43);
  failed->set_status(v1::NAMESPACE_STATUS_FAILED);
  failed->set_error("setns: Operation not permitted");
  failed->set_path("/proc/77/ns/net");
  *snapshot.add_sockets() =
      Socket("10.99.0.2", 720, v1::TCP_STATE_CLOSE_WAIT, 4);
  *snapshot.add_sockets() = Socket("10.99.0.5", 0, v1::TCP_STATE_ESTABLISHED);
  *snapshot.add_sockets() =
      Socket("fd00:99::2", 9000, v1::TCP_STATE_ESTABLISHED, 1);
  *snapshot.add_sockets() = Socket("0.0.0.0", 0, v1::TCP_STATE_LISTEN);
  snapshot.mutable_stats()->set_sockets(4);
  return snapshot;
}

std::vector<std::string> Remotes(const v1::NodeSnapshot& snapshot) {
  std::vector<std::string> remotes;
  for (const auto& socket : snapshot.sockets())
    remotes.push_back(socket.remote_ip());
  return remotes;
}

TEST(FilterAndSort, SortKeysAndStateFilters) {
  struct Case {
    std::string name;
    OutputOptions options;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"send queue, descending (default)",
       {},
       {"fd00:99::2", "10.99.0.2", "0.0.0.0", "10.99.0.5"}},
      {"backoff",
       {SortKey::kBackoff, {}},
       {"10.99.0.2", "fd00:99::2", "0.0.0.0", "10.99.0.5"}},
      {"state",
       {SortKey::kState, {}},
       {"10.99.0.5", "fd00:99::2", "10.99.0.2", "0.0.0.0"}},
      {"remote",
       {SortKey::kRemote, {}},
       {"0.0.0.0", "10.99.0.2", "10.99.0.5", "fd00:99::2"}},
      {"none keeps kernel order",
       {SortKey::kNone, {}},
       {"10.99.0.2", "10.99.0.5", "fd00:99::2", "0.0.0.0"}},
      {"only CLOSE_WAIT",
       {SortKey::kSendQueue, {v1::TCP_STATE_CLOSE_WAIT}},
       {"10.99.0.2"}},
      {"two states",
       {SortKey::kSendQueue, {v1::TCP_STATE_LISTEN, v1::TCP_STATE_CLOSE_WAIT}},
       {"10.99.0.2", "0.0.0.0"}},
      {"no match", {SortKey::kSendQueue, {v1::TCP_STATE_SYN_SENT}}, {}},
  };
  for (const Case& c : cases) {
    v1::NodeSnapshot snapshot = Snapshot();
    FilterAndSort(c.options, &snapshot);
    EXPECT_EQ(Remotes(snapshot), c.expected) << c.name;
    EXPECT_EQ(snapshot.stats().sockets(), 4u) << c.name;
  }
}

TEST(ParseSortKey, Names) {
  EXPECT_EQ(ParseSortKey("send-queue"), SortKey::kSendQueue);
  EXPECT_EQ(ParseSortKey("backoff"), SortKey::kBackoff);
  EXPECT_EQ(ParseSortKey("none"), SortKey::kNone);
  EXPECT_EQ(ParseSortKey("sendq"), std::nullopt);
}

TEST(FormatSnapshotJson, ProtoFieldNamesAndEnumNames) {
  const std::string json = FormatSnapshotJson(Snapshot());
  ASSERT_TRUE(absl::EndsWith(json, "}\n")) << "one document, one newline";
  for (const char* expected :
       {"\"netns_inode\"", "\"remote_ip\": \"10.99.0.2\"",
        "\"send_queue\": 720", "\"state\": \"TCP_STATE_CLOSE_WAIT\"",
        "\"backoff\": 4", "\"status\": \"NAMESPACE_STATUS_FAILED\"",
        "\"peer_closed\": false"}) {
    EXPECT_TRUE(absl::StrContains(json, expected)) << expected;
  }
  EXPECT_FALSE(absl::StrContains(json, "remoteIp"));
}

TEST(FormatSnapshotTable, OneLinePerSocketWithHintsAndFailures) {
  v1::NodeSnapshot snapshot = Snapshot();
  snapshot.mutable_sockets(0)->set_pid(4242);
  snapshot.mutable_sockets(0)->set_comm("logc");
  snapshot.mutable_sockets(0)->set_peer_closed(true);
  snapshot.mutable_sockets(0)->mutable_tcp_info()->set_unacked(1);
  snapshot.mutable_sockets(0)->mutable_tcp_info()->set_last_ack_recv_ms(6080);
  const std::string table = FormatSnapshotTable(snapshot);
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 7u);
  EXPECT_TRUE(absl::StartsWith(lines[0], "State"));
  EXPECT_TRUE(absl::StrContains(lines[1], "CLOSE-WAIT"));
  for (const char* expected :
       {"720", "10.99.0.3:40720", "10.99.0.2:27017", "gpx-cli", "logc/4242",
        "peer-fin", "backoff:4", "unacked:1", "lastack:6080ms"}) {
    EXPECT_TRUE(absl::StrContains(lines[1], expected)) << expected;
  }
  EXPECT_TRUE(absl::StrContains(table, "[fd00:99::2]:27017"));
  EXPECT_TRUE(absl::StrContains(table, "setns: Operation not permitted"));
  EXPECT_TRUE(absl::StrContains(lines[lines.size() - 2], "4 sockets shown"));
}

TEST(FormatSnapshotTable, TranslatedPeerShowsItsBackend) {
  v1::NodeSnapshot snapshot = Snapshot();
  v1::SocketRecord* vip = snapshot.mutable_sockets(0);
  vip->set_remote_ip("10.0.1.2");
  vip->set_remote_port(5432);
  vip->set_backend_ip("10.0.1.6");
  vip->set_backend_port(5432);
  vip->set_translated_by(v1::TRANSLATOR_IPVS);
  v1::SocketRecord* v6 = snapshot.mutable_sockets(2);
  v6->set_backend_ip("fd00:99::6");
  v6->set_backend_port(27018);
  v6->set_translated_by(v1::TRANSLATOR_CONNTRACK);
  snapshot.set_translation_status("ok");
  const std::string table = FormatSnapshotTable(snapshot);
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 7u);
  EXPECT_TRUE(absl::StrContains(lines[1], "10.0.1.2:5432 -> 10.0.1.6:5432"))
      << table;
  EXPECT_TRUE(absl::StrContains(lines[1], "via:ipvs")) << table;
  EXPECT_TRUE(
      absl::StrContains(table, "[fd00:99::2]:27017 -> [fd00:99::6]:27018  "))
      << table;
  EXPECT_TRUE(absl::StrContains(table, "via:conntrack")) << table;
  // Untranslated peers show no arrow; an "ok" node says nothing more.
  const std::vector<absl::string_view> arrows = absl::StrSplit(table, " -> ");
  EXPECT_EQ(arrows.size(), 3u) << table;
  EXPECT_FALSE(absl::StrContains(table, "VIPs")) << table;
}

TEST(FormatSnapshotTable, SaysWhenTheNodeCannotSeeThroughVips) {
  v1::NodeSnapshot snapshot = Snapshot();
  v1::NamespaceInfo* lb = snapshot.add_namespaces();
  lb->set_inode(44);
  lb->set_netns_name("lb_73fsqapim");
  lb->set_status(v1::NAMESPACE_STATUS_OK);
  lb->mutable_ipvs()->set_expire_nodest_conn(0);
  lb->set_translation_error("conntrack: permission denied");
  snapshot.set_translation_status(
      "unavailable: translations unreadable in 1 of 3 namespaces "
      "(lb_73fsqapim: conntrack: permission denied)");
  const std::string table = FormatSnapshotTable(snapshot);
  for (const char* expected :
       {"! namespace lb_73fsqapim translations unreadable: conntrack: "
        "permission denied",
        "! namespace lb_73fsqapim has IPVS with expire_nodest_conn=0",
        "! cannot see through VIPs: unavailable: translations unreadable in "
        "1 of 3 namespaces"}) {
    EXPECT_TRUE(absl::StrContains(table, expected)) << expected << "\n"
                                                    << table;
  }
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  EXPECT_TRUE(absl::StrContains(lines[lines.size() - 2], "4 sockets shown"))
      << "the summary stays last";

  // A flushing IPVS (the Docker >= 20.10.17 default) and a readable node:
  // no warning.
  lb->mutable_ipvs()->set_expire_nodest_conn(1);
  lb->clear_translation_error();
  snapshot.set_translation_status("ok");
  const std::string quiet = FormatSnapshotTable(snapshot);
  EXPECT_FALSE(absl::StrContains(quiet, "lb_73fsqapim")) << quiet;
  EXPECT_FALSE(absl::StrContains(quiet, "VIPs")) << quiet;
}

TEST(FormatSnapshotTable, ProtocolColumnSaysUdpOrTcp) {
  v1::NodeSnapshot snapshot = Snapshot();
  snapshot.mutable_sockets(0)->set_protocol(v1::PROTOCOL_UDP);
  snapshot.mutable_sockets(1)->set_protocol(v1::PROTOCOL_TCP);
  snapshot.mutable_sockets(2)->clear_protocol();  // an older capture: TCP
  const std::vector<std::string> lines =
      absl::StrSplit(FormatSnapshotTable(snapshot), '\n');
  ASSERT_GE(lines.size(), 4u);
  const std::vector<std::string> header =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  ASSERT_GE(header.size(), 2u);
  EXPECT_EQ(header[1], "Proto");
  const struct {
    const char* name;
    int line;
    const char* expected;
  } cases[] = {{"UDP", 1, "udp"}, {"TCP", 2, "tcp"}, {"UNSPECIFIED", 3, "tcp"}};
  for (const auto& c : cases) {
    const std::vector<std::string> cells =
        absl::StrSplit(lines[c.line], ' ', absl::SkipEmpty());
    ASSERT_GE(cells.size(), 2u) << c.name;
    EXPECT_EQ(cells[1], c.expected) << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer::agent
