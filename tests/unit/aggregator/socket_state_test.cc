#include "aggregator/socket_state.h"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Delta;
using testing::Full;
using testing::Socket;
using testing::SocketSpec;
using testing::T;

v1::SocketRecord Port(uint32_t port, uint32_t queue = 0) {
  SocketSpec spec;
  spec.local_port = port;
  spec.send_queue = queue;
  return Socket(spec);
}

// "port:queue" of every socket in the view.
std::set<std::string> View(const NodeSockets& sockets) {
  std::set<std::string> out;
  sockets.ForEach([&](const SocketView& v) {
    out.insert(absl::StrCat(v.ToRecord().local_port(), ":", v.send_queue()));
  });
  return out;
}

TEST(NodeSocketsTest, FullThenDeltaReconstructs) {
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {Port(1), Port(2), Port(3)}));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "2:0", "3:0"}));
  EXPECT_EQ(sockets.size(), 3u);

  // 2 changed, 3 removed, 4 new.
  ASSERT_TRUE(sockets.ApplyDelta(
      Delta(2, 1, T(5), {Port(2, 100), Port(4)}, {Port(3)})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "2:100", "4:0"}));
  EXPECT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets.latest_snapshot_id(), 2u);
  EXPECT_EQ(sockets.base_snapshot_id(), 1u);

  // The next delta is against the base again, not the previous delta: 3 is
  // back (present in the base, not removed this time), 2 unchanged.
  ASSERT_TRUE(sockets.ApplyDelta(Delta(3, 1, T(10), {}, {})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "2:0", "3:0"}));
}

// A UDP socket with a TCP socket's addresses, ports and inode is another
// socket; a key from an older agent (no protocol) names the TCP one.
TEST(NodeSocketsTest, ProtocolIsPartOfTheKey) {
  v1::SocketRecord tcp = Port(1);
  tcp.set_protocol(v1::PROTOCOL_UNSPECIFIED);
  v1::SocketRecord udp = Port(1, 7);
  udp.set_protocol(v1::PROTOCOL_UDP);
  EXPECT_FALSE(SocketKeyView::Of(tcp) == SocketKeyView::Of(udp));
  EXPECT_NE(SocketFingerprint(SocketKeyView::Of(tcp)),
            SocketFingerprint(SocketKeyView::Of(udp)));
  v1::SocketRecord explicit_tcp = tcp;
  explicit_tcp.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_TRUE(SocketKeyView::Of(tcp) == SocketKeyView::Of(explicit_tcp));

  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {tcp, udp}));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "1:7"}));
  ASSERT_TRUE(sockets.ApplyDelta(Delta(2, 1, T(5), {}, {udp})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0"}));
  ASSERT_TRUE(sockets.ApplyDelta(Delta(3, 1, T(10), {}, {explicit_tcp})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:7"}));
}

TEST(NodeSocketsTest, DeltaWithUnknownBaseChangesNothing) {
  NodeSockets sockets;
  EXPECT_FALSE(sockets.ApplyDelta(Delta(2, 1, T(5), {Port(9)}, {})));
  sockets.ApplyFull(Full(1, T(0), {Port(1)}));
  EXPECT_FALSE(sockets.ApplyDelta(Delta(3, 7, T(5), {Port(9)}, {})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0"}));
}

TEST(NodeSocketsTest, CarriedRecordsAreReAged) {
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {Port(1), Port(2)}));
  ASSERT_TRUE(sockets.ApplyDelta(Delta(2, 1, T(7.5), {Port(2, 5)}, {})));
  std::vector<v1::SocketRecord> aged;
  sockets.ForEach([&](const SocketView& v) { aged.push_back(ReAged(v)); });
  ASSERT_EQ(aged.size(), 2u);
  // Port 1 came from the base: 1000 ms old then, 8500 ms now.
  EXPECT_EQ(aged[0].local_port(), 1u);
  EXPECT_EQ(aged[0].tcp_info().last_ack_recv_ms(), 8500u);
  EXPECT_EQ(aged[0].tcp_info().last_data_recv_ms(), 8500u);
  // Port 2 came in the delta: as sent.
  EXPECT_EQ(aged[1].local_port(), 2u);
  EXPECT_EQ(aged[1].tcp_info().last_ack_recv_ms(), 1000u);
}

TEST(NodeSocketsTest, ReAgingSaturates) {
  v1::SocketRecord record = Port(1);
  record.mutable_tcp_info()->set_last_ack_recv_ms(4294967000u);
  const v1::SocketRecord aged = ReAged({&record, 1000});
  EXPECT_EQ(aged.tcp_info().last_ack_recv_ms(), 4294967295u);
}

TEST(NodeSocketsTest, DuplicateKeysKeepTheFirstRecord) {
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {Port(1, 10), Port(1, 20), Port(2)}));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:10", "2:0"}));
  EXPECT_EQ(sockets.size(), 2u);
}

TEST(NodeSocketsTest, RemovedAndSentMeansPresent) {
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {Port(1)}));
  ASSERT_TRUE(sockets.ApplyDelta(Delta(2, 1, T(1), {Port(1, 7)}, {Port(1)})));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:7"}));
  EXPECT_EQ(sockets.size(), 1u);
}

TEST(NodeSocketsTest, PreparedMeasuresTheViewAndChangesNothingUntilApplied) {
  NodeSockets sockets;
  const v1::SocketSnapshot base = Full(1, T(0), {Port(1), Port(2), Port(3)});
  sockets.ApplyFull(base);
  const size_t base_bytes = sockets.held_bytes();
  // Three compact records and their index at least; less than the records
  // as protobuf messages.
  EXPECT_GE(base_bytes, 3 * sizeof(CompactSocket));
  EXPECT_LT(base_bytes, base.SpaceUsedLong());

  // 2 changed, 3 removed, 4 and 5 new: four sockets, base + delta held.
  const v1::SocketSnapshot delta =
      Delta(2, 1, T(5), {Port(2, 100), Port(4), Port(5)}, {Port(3)});
  std::optional<NodeSockets::Prepared> prepared = sockets.PrepareDelta(delta);
  ASSERT_TRUE(prepared.has_value());
  EXPECT_EQ(prepared->view_size(), 4u);
  const size_t with_delta = prepared->held_bytes();
  EXPECT_GE(with_delta, base_bytes + 3 * sizeof(CompactSocket));
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "2:0", "3:0"}));
  EXPECT_EQ(sockets.held_bytes(), base_bytes);

  sockets.Apply(*std::move(prepared));
  EXPECT_EQ(View(sockets),
            (std::set<std::string>{"1:0", "2:100", "4:0", "5:0"}));
  EXPECT_EQ(sockets.size(), 4u);
  EXPECT_EQ(sockets.held_bytes(), with_delta);

  // A full snapshot drops the delta from the count: one socket costs less
  // than three.
  const v1::SocketSnapshot next = Full(3, T(9), {Port(7)});
  NodeSockets::Prepared full = sockets.PrepareFull(next);
  const size_t next_bytes = full.held_bytes();
  sockets.Apply(std::move(full));
  EXPECT_EQ(sockets.held_bytes(), next_bytes);
  EXPECT_LT(next_bytes, base_bytes);
  EXPECT_FALSE(sockets.PrepareDelta(Delta(4, 1, T(9), {}, {})).has_value());
  sockets.Clear();
  EXPECT_EQ(sockets.held_bytes(), 0u);
}

// Every field set, none to its default.
v1::SocketRecord EveryField(uint32_t port) {
  v1::SocketRecord r = Port(port, 17);
  r.set_node_id("n0d31d");
  r.set_recv_queue(3);
  r.set_container_id("c0ffee");
  r.set_uid(1000);
  r.set_cookie(0xfeedfacecafe);
  r.set_peer_closed(true);
  r.set_timer(2);
  r.set_timer_expires_ms(7000);
  r.set_task_slot("3");
  r.set_backend_ip("10.0.9.9");
  r.set_backend_port(8080);
  r.set_translated_by(v1::TRANSLATOR_IPVS);
  r.set_translation_netns_inode(4026531999);
  r.set_protocol(v1::PROTOCOL_TCP);
  v1::TcpInfo* info = r.mutable_tcp_info();
  info->set_retransmits(1);
  info->set_backoff(2);
  info->set_unacked(3);
  info->set_total_retrans(4);
  info->set_last_data_sent_ms(5);
  info->set_rto_us(6);
  info->set_notsent_bytes(7);
  info->set_bytes_received(8);
  info->set_lost(9);
  info->set_probes(10);
  info->set_snd_cwnd(11);
  info->set_rtt_us(12);
  return r;
}

// The records read back, as ListSockets would answer them.
std::vector<v1::SocketRecord> Records(const NodeSockets& sockets) {
  std::vector<v1::SocketRecord> out;
  sockets.ForEach([&](const SocketView& v) { out.push_back(v.ToRecord()); });
  return out;
}

void ExpectSameRecords(const std::vector<v1::SocketRecord>& got,
                       const std::vector<v1::SocketRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), want[i].SerializeAsString())
        << "record " << i << ":\n"
        << got[i].DebugString() << "want:\n"
        << want[i].DebugString();
  }
}

// Compaction keeps every value exactly: strings of any bytes and length,
// text that is no canonical address, and records it cannot pack (kept
// whole) among those it can.
TEST(NodeSocketsTest, RecordsReadBackExactlyAsSent) {
  struct Case {
    std::string name;
    std::function<void(v1::SocketRecord*)> change;
  };
  const std::string binary("\0\xff\x80 \n\"'\\", 9);
  const std::vector<Case> cases = {
      {"every field", [](v1::SocketRecord*) {}},
      {"no tcp_info", [](v1::SocketRecord* r) { r->clear_tcp_info(); }},
      {"empty tcp_info",
       [](v1::SocketRecord* r) { *r->mutable_tcp_info() = v1::TcpInfo(); }},
      {"binary strings",
       [&](v1::SocketRecord* r) {
         r->set_comm(binary);
         r->set_service(binary + "x");
         r->set_container_name(std::string(70000, 'n'));
         r->set_task("");
       }},
      {"addresses as sent",
       [](v1::SocketRecord* r) {
         r->set_local_ip("0010.000.001.008");
         r->set_remote_ip("FD00::0001");
         r->set_backend_ip("not an address \xfe");
       }},
      {"port above 65535",
       [](v1::SocketRecord* r) { r->set_remote_port(70000); }},
      {"unknown state",
       [](v1::SocketRecord* r) {
         r->set_state(static_cast<v1::TcpState>(4000));
       }},
      {"negative protocol",
       [](v1::SocketRecord* r) {
         r->set_protocol(static_cast<v1::Protocol>(-3));
       }},
      {"wide timer", [](v1::SocketRecord* r) { r->set_timer(300); }},
      {"wide retransmits",
       [](v1::SocketRecord* r) { r->mutable_tcp_info()->set_probes(256); }},
      {"unknown field",
       [](v1::SocketRecord* r) {
         r->GetReflection()->MutableUnknownFields(r)->AddVarint(999, 5);
       }},
      {"unknown tcp_info field",
       [](v1::SocketRecord* r) {
         v1::TcpInfo* info = r->mutable_tcp_info();
         info->GetReflection()->MutableUnknownFields(info)->AddFixed32(77, 1);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // The changed record among plain ones, in a base and in a delta.
    v1::SocketRecord odd = EveryField(5);
    c.change(&odd);
    const std::vector<v1::SocketRecord> records = {EveryField(1), odd,
                                                   EveryField(9)};
    NodeSockets sockets;
    sockets.ApplyFull(Full(1, T(0), records));
    ExpectSameRecords(Records(sockets), records);
    ASSERT_TRUE(sockets.ApplyDelta(Delta(2, 1, T(0), {odd}, {})));
    ExpectSameRecords(Records(sockets), {records[0], records[2], records[1]});
  }
}

// What the detector reads from a compact socket is what the record says.
TEST(NodeSocketsTest, ViewReadsWhatTheRecordSays) {
  const v1::SocketRecord record = EveryField(5);
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {record}));
  ASSERT_TRUE(sockets.ApplyDelta(Delta(2, 1, T(3), {}, {})));
  const SocketView direct(&record, 3000);
  int seen = 0;
  sockets.ForEach([&](const SocketView& v) {
    ++seen;
    EXPECT_EQ(v.extra_age_ms(), 3000u);
    EXPECT_EQ(v.fingerprint(), direct.fingerprint());
    EXPECT_TRUE(v.key() == direct.key());
    EXPECT_EQ(v.netns_inode(), record.netns_inode());
    EXPECT_EQ(v.inode(), record.inode());
    EXPECT_EQ(v.local_ip(), record.local_ip());
    EXPECT_EQ(v.remote_ip(), record.remote_ip());
    EXPECT_EQ(v.remote_port(), record.remote_port());
    EXPECT_EQ(v.backend_ip(), record.backend_ip());
    EXPECT_EQ(v.protocol(), record.protocol());
    EXPECT_EQ(v.state(), record.state());
    EXPECT_EQ(v.send_queue(), record.send_queue());
    EXPECT_TRUE(v.has_tcp_info());
    EXPECT_EQ(v.bytes_acked(), record.tcp_info().bytes_acked());
    EXPECT_EQ(v.unacked(), record.tcp_info().unacked());
    EXPECT_EQ(v.backoff(), record.tcp_info().backoff());
    // As the base says; extra_age_ms() is added by readers.
    EXPECT_EQ(v.last_ack_recv_ms(), record.tcp_info().last_ack_recv_ms());
    EXPECT_EQ(v.last_data_recv_ms(), record.tcp_info().last_data_recv_ms());
    EXPECT_EQ(v.ToRecord().SerializeAsString(),
              direct.ToRecord().SerializeAsString());
  });
  EXPECT_EQ(seen, 1);
}

TEST(NodeSocketsTest, ClearForgetsTheBase) {
  NodeSockets sockets;
  sockets.ApplyFull(Full(1, T(0), {Port(1)}));
  sockets.Clear();
  EXPECT_FALSE(sockets.has_base());
  EXPECT_EQ(sockets.size(), 0u);
  EXPECT_FALSE(sockets.ApplyDelta(Delta(2, 1, T(1), {}, {})));
}

}  // namespace
}  // namespace ghostpeer::aggregator
