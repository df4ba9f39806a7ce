#include "aggregator/socket_state.h"

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
    out.insert(
        absl::StrCat(v.record->local_port(), ":", v.record->send_queue()));
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
  const size_t base_bytes = base.ByteSizeLong();
  EXPECT_EQ(sockets.held_bytes(), base_bytes);

  // 2 changed, 3 removed, 4 and 5 new: four sockets, base + delta held.
  const v1::SocketSnapshot delta =
      Delta(2, 1, T(5), {Port(2, 100), Port(4), Port(5)}, {Port(3)});
  std::optional<NodeSockets::Prepared> prepared = sockets.PrepareDelta(delta);
  ASSERT_TRUE(prepared.has_value());
  EXPECT_EQ(prepared->view_size(), 4u);
  EXPECT_EQ(prepared->held_bytes(), base_bytes + delta.ByteSizeLong());
  EXPECT_EQ(View(sockets), (std::set<std::string>{"1:0", "2:0", "3:0"}));
  EXPECT_EQ(sockets.held_bytes(), base_bytes);

  sockets.Apply(*std::move(prepared));
  EXPECT_EQ(View(sockets),
            (std::set<std::string>{"1:0", "2:100", "4:0", "5:0"}));
  EXPECT_EQ(sockets.size(), 4u);
  EXPECT_EQ(sockets.held_bytes(), base_bytes + delta.ByteSizeLong());

  // A full snapshot drops the delta from the count.
  const v1::SocketSnapshot next = Full(3, T(9), {Port(7)});
  sockets.Apply(sockets.PrepareFull(next));
  EXPECT_EQ(sockets.held_bytes(), next.ByteSizeLong());
  EXPECT_FALSE(sockets.PrepareDelta(Delta(4, 1, T(9), {}, {})).has_value());
  sockets.Clear();
  EXPECT_EQ(sockets.held_bytes(), 0u);
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
