#include "agent/report/delta_encoder.h"

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

v1::SocketRecord Socket(uint32_t local_port, uint32_t send_queue) {
  v1::SocketRecord record;
  record.set_netns_inode(42);
  record.set_local_ip("10.99.0.3");
  record.set_local_port(local_port);
  record.set_remote_ip("10.99.0.2");
  record.set_remote_port(27017);
  record.set_inode(1000 + local_port);
  record.set_state(v1::TCP_STATE_ESTABLISHED);
  record.set_send_queue(send_queue);
  record.mutable_tcp_info()->set_last_data_recv_ms(10);
  return record;
}

v1::NodeSnapshot Snapshot(std::vector<v1::SocketRecord> sockets) {
  v1::NodeSnapshot snapshot;
  snapshot.set_node("node-1");
  for (auto& s : sockets) *snapshot.add_sockets() = std::move(s);
  return snapshot;
}

v1::Ack AckFull(uint64_t id) {
  v1::Ack ack;
  ack.set_full_snapshot_id(id);
  ack.set_snapshot_id(id);
  return ack;
}

TEST(DeltaEncoderTest, FirstSnapshotIsFullAndNumbered) {
  DeltaEncoder encoder;
  v1::SocketSnapshot first = encoder.Encode(Snapshot({Socket(1, 0)}));
  EXPECT_TRUE(first.full());
  EXPECT_EQ(first.snapshot_id(), 1u);
  EXPECT_EQ(first.snapshot().sockets_size(), 1);
}

TEST(DeltaEncoderTest, StaysFullUntilAcknowledged) {
  DeltaEncoder encoder;
  (void)encoder.Encode(Snapshot({Socket(1, 0)}));
  EXPECT_TRUE(encoder.Encode(Snapshot({Socket(1, 0)})).full());
}

TEST(DeltaEncoderTest, DeltaCarriesOnlyChangesAndRemovals) {
  DeltaEncoder encoder;
  v1::SocketSnapshot full =
      encoder.Encode(Snapshot({Socket(1, 0), Socket(2, 0), Socket(3, 0)}));
  encoder.Acknowledge(AckFull(full.snapshot_id()));

  v1::SocketRecord aged = Socket(1, 0);
  aged.mutable_tcp_info()->set_last_data_recv_ms(5000);  // only older
  v1::SocketSnapshot delta =
      encoder.Encode(Snapshot({aged, Socket(2, 700), Socket(4, 0)}));
  EXPECT_FALSE(delta.full());
  EXPECT_EQ(delta.base_snapshot_id(), full.snapshot_id());
  ASSERT_EQ(delta.snapshot().sockets_size(), 2);
  EXPECT_EQ(delta.snapshot().sockets(0).local_port(), 2u);  // changed
  EXPECT_EQ(delta.snapshot().sockets(1).local_port(), 4u);  // new
  ASSERT_EQ(delta.removed_size(), 1);
  EXPECT_EQ(delta.removed(0).local_port(), 3u);
  EXPECT_EQ(delta.removed(0).inode(), 1003u);
  EXPECT_EQ(delta.removed(0).netns_inode(), 42u);
}

// The socket names the same VIP while its translation moves to another
// backend (the VIP re-pointed, a stale entry replaced) or expires: the
// aggregator judges it on the backend, so each of those is a change.
TEST(DeltaEncoderTest, ABackendChangeIsAChange) {
  v1::SocketRecord via_11 = Socket(1, 0);
  via_11.set_backend_ip("10.77.2.11");
  via_11.set_backend_port(8080);
  via_11.set_translated_by(v1::TRANSLATOR_CONNTRACK);
  via_11.set_translation_netns_inode(77);
  struct Case {
    std::string name;
    v1::SocketRecord next;
    bool sent;
  };
  std::vector<Case> cases = {{"same backend", via_11, false},
                             {"another backend ip", via_11, true},
                             {"another backend port", via_11, true},
                             {"another translator", via_11, true},
                             {"another translating namespace", via_11, true},
                             {"translation gone", via_11, true}};
  cases[1].next.set_backend_ip("10.77.2.12");
  cases[2].next.set_backend_port(8081);
  cases[3].next.set_translated_by(v1::TRANSLATOR_IPVS);
  cases[4].next.set_translation_netns_inode(78);
  cases[5].next.clear_backend_ip();
  cases[5].next.clear_backend_port();
  cases[5].next.clear_translated_by();
  cases[5].next.clear_translation_netns_inode();
  for (const Case& c : cases) {
    DeltaEncoder encoder;
    v1::SocketSnapshot full = encoder.Encode(Snapshot({via_11}));
    encoder.Acknowledge(AckFull(full.snapshot_id()));
    v1::SocketSnapshot delta = encoder.Encode(Snapshot({c.next}));
    ASSERT_FALSE(delta.full()) << c.name;
    EXPECT_EQ(delta.snapshot().sockets_size(), c.sent ? 1 : 0) << c.name;
    EXPECT_EQ(delta.removed_size(), 0) << c.name << ": same socket";
  }
}

// A connected UDP socket with the TCP socket's addresses, ports and even
// inode (the key's last resort, 0 in some /proc captures) is another socket:
// each is tracked, changed and removed on its own.
TEST(DeltaEncoderTest, TcpAndUdpWithTheSameTupleAreTwoSockets) {
  v1::SocketRecord tcp = Socket(1, 0);
  tcp.set_protocol(v1::PROTOCOL_TCP);
  tcp.set_inode(0);
  v1::SocketRecord udp = tcp;
  udp.set_protocol(v1::PROTOCOL_UDP);
  udp.clear_tcp_info();
  EXPECT_NE(KeyString(KeyOf(tcp)), KeyString(KeyOf(udp)));
  EXPECT_EQ(KeyOf(udp).protocol(), v1::PROTOCOL_UDP);

  DeltaEncoder encoder;
  v1::SocketSnapshot full = encoder.Encode(Snapshot({tcp, udp}));
  ASSERT_EQ(full.snapshot().sockets_size(), 2);
  encoder.Acknowledge(AckFull(full.snapshot_id()));

  v1::SocketRecord udp_grown = udp;
  udp_grown.set_send_queue(768);
  v1::SocketSnapshot changed = encoder.Encode(Snapshot({tcp, udp_grown}));
  ASSERT_EQ(changed.snapshot().sockets_size(), 1);
  EXPECT_EQ(changed.snapshot().sockets(0).protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(changed.removed_size(), 0);

  v1::SocketSnapshot udp_gone = encoder.Encode(Snapshot({tcp}));
  EXPECT_EQ(udp_gone.snapshot().sockets_size(), 0);
  ASSERT_EQ(udp_gone.removed_size(), 1);
  EXPECT_EQ(udp_gone.removed(0).protocol(), v1::PROTOCOL_UDP);

  v1::SocketSnapshot tcp_gone = encoder.Encode(Snapshot({udp}));
  EXPECT_EQ(tcp_gone.snapshot().sockets_size(), 0);
  ASSERT_EQ(tcp_gone.removed_size(), 1);
  EXPECT_EQ(tcp_gone.removed(0).protocol(), v1::PROTOCOL_TCP);
}

// A record without a protocol (captured before UDP support) keys as TCP.
TEST(DeltaEncoderTest, UnspecifiedProtocolKeysAsTcp) {
  v1::SocketRecord old_record = Socket(1, 0);
  v1::SocketRecord tcp = old_record;
  tcp.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_EQ(KeyOf(old_record).protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(KeyString(KeyOf(old_record)), KeyString(KeyOf(tcp)));
}

TEST(DeltaEncoderTest, DeltasStayAgainstTheFullBaseNotThePreviousDelta) {
  DeltaEncoder encoder;
  v1::SocketSnapshot full = encoder.Encode(Snapshot({Socket(1, 0)}));
  encoder.Acknowledge(AckFull(full.snapshot_id()));
  (void)encoder.Encode(Snapshot({Socket(1, 5)}));
  v1::SocketSnapshot second = encoder.Encode(Snapshot({Socket(1, 5)}));
  EXPECT_EQ(second.base_snapshot_id(), full.snapshot_id());
  EXPECT_EQ(second.snapshot().sockets_size(), 1) << "still differs from base";
}

TEST(DeltaEncoderTest, PeriodicFullSnapshot) {
  DeltaEncoder encoder(/*full_every=*/3);
  v1::SocketSnapshot full = encoder.Encode(Snapshot({Socket(1, 0)}));
  encoder.Acknowledge(AckFull(full.snapshot_id()));
  EXPECT_FALSE(encoder.Encode(Snapshot({Socket(1, 0)})).full());
  EXPECT_FALSE(encoder.Encode(Snapshot({Socket(1, 0)})).full());
  EXPECT_TRUE(encoder.Encode(Snapshot({Socket(1, 0)})).full());
}

TEST(DeltaEncoderTest, FullRequiredAndReconnect) {
  DeltaEncoder encoder;
  v1::SocketSnapshot full = encoder.Encode(Snapshot({Socket(1, 0)}));
  encoder.Acknowledge(AckFull(full.snapshot_id()));
  v1::Ack required;
  required.set_full_snapshot_required(true);
  encoder.Acknowledge(required);
  EXPECT_TRUE(encoder.Encode(Snapshot({Socket(1, 0)})).full());

  v1::SocketSnapshot again = encoder.Encode(Snapshot({Socket(1, 0)}));
  encoder.Acknowledge(AckFull(again.snapshot_id()));
  encoder.RequireFull();
  EXPECT_EQ(encoder.base_snapshot_id(), 0u);
  EXPECT_TRUE(encoder.Encode(Snapshot({Socket(1, 0)})).full());
}

TEST(DeltaEncoderTest, UnknownAckIsIgnored) {
  DeltaEncoder encoder;
  (void)encoder.Encode(Snapshot({Socket(1, 0)}));
  encoder.Acknowledge(AckFull(999));
  EXPECT_EQ(encoder.base_snapshot_id(), 0u);
}

}  // namespace
}  // namespace ghostpeer::agent
