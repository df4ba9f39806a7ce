#include "agent/proc_net_tcp.h"

#include <sys/socket.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

// Real files (kernel 6.18, x86-64), trimmed of trailing spaces; also the
// seeds of tests/fuzz/proc_net_tcp_fuzzer.
const std::string kTcp4 = test::ReadTestdataText("agent/proc_net_tcp.txt");
const std::string kTcp6 = test::ReadTestdataText("agent/proc_net_tcp6.txt");
// Recorded from a namespace holding a connected UDP pair on 127.0.0.1 (one
// 100-byte datagram unread at :27031), an unconnected socket on 0.0.0.0:53
// that sent a datagram with sendto(), a connected pair on ::1, an IPv6
// socket connected to an IPv4-mapped peer and an unconnected [::]:5353.
const std::string kUdp4 = test::ReadTestdataText("agent/proc_net_udp.txt");
const std::string kUdp6 = test::ReadTestdataText("agent/proc_net_udp6.txt");

TEST(ParseProcNetTcp, Ipv4Lines) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetTcp(kTcp4, AF_INET);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->malformed_lines, 0u);
  ASSERT_EQ(result->records.size(), 3u);
  const v1::SocketRecord& listen = result->records[0];
  EXPECT_EQ(listen.local_ip(), "127.0.0.1");
  EXPECT_EQ(listen.local_port(), 27017u);
  EXPECT_EQ(listen.state(), v1::TCP_STATE_LISTEN);
  EXPECT_EQ(listen.inode(), 10462u);
  EXPECT_EQ(listen.source(), v1::CAPTURE_SOURCE_PROC_NET_TCP);

  const v1::SocketRecord& ghost = result->records[1];
  EXPECT_EQ(ghost.local_ip(), "10.99.0.3");
  EXPECT_EQ(ghost.local_port(), 43318u);
  EXPECT_EQ(ghost.remote_ip(), "10.99.0.2");
  EXPECT_EQ(ghost.remote_port(), 27017u);
  EXPECT_EQ(ghost.state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_TRUE(ghost.peer_closed());
  EXPECT_EQ(ghost.send_queue(), 720u);
  EXPECT_EQ(ghost.recv_queue(), 1u);
  EXPECT_EQ(ghost.timer(), 1u);
  EXPECT_EQ(ghost.timer_expires_ms(), 630u);
  EXPECT_EQ(ghost.uid(), 1000u);
  EXPECT_EQ(ghost.inode(), 908125u);
  EXPECT_EQ(ghost.tcp_info().retransmits(), 4u);
  EXPECT_EQ(ghost.tcp_info().rto_us(), 3260000u);
  EXPECT_EQ(ghost.tcp_info().snd_cwnd(), 1u);
  EXPECT_EQ(ghost.tcp_info().backoff(), 0u);  // not in the file
  EXPECT_EQ(ghost.cookie(), 0u);

  const v1::SocketRecord& time_wait = result->records[2];
  EXPECT_EQ(time_wait.state(), v1::TCP_STATE_TIME_WAIT);
  EXPECT_EQ(time_wait.inode(), 0u);
  EXPECT_EQ(time_wait.timer(), 3u);
}

TEST(ParseProcNetTcp, Ipv6LinesIncludingMapped) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetTcp(kTcp6, AF_INET6);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->malformed_lines, 0u);
  ASSERT_EQ(result->records.size(), 3u);
  EXPECT_EQ(result->records[0].local_ip(), "::1");
  EXPECT_EQ(result->records[0].local_port(), 27018u);
  EXPECT_EQ(result->records[1].local_ip(), "127.0.0.1");  // ::ffff:127.0.0.1
  EXPECT_EQ(result->records[1].remote_port(), 45300u);
  EXPECT_EQ(result->records[2].local_ip(), "fd00::a");
  EXPECT_EQ(result->records[2].remote_ip(), "fd00::2");
  EXPECT_EQ(result->records[2].send_queue(), 16u);
}

TEST(ParseProcNetTcp, MalformedLinesAreSkipped) {
  struct Case {
    const char* name;
    std::string line;
  };
  const Case cases[] = {
      {"too few fields", "   0: 0100007F:6989 00000000:0000 0A"},
      {"bad hex address",
       "   0: 0100ZZ7F:6989 00000000:0000 0A 00000000:00000000 "
       "00:00000000 00000000 0 0 1"},
      {"IPv6 width in an IPv4 file",
       "   0: 00000000000000000000000001000000:698A 00000000:0000 0A "
       "00000000:00000000 00:00000000 00000000 0 0 1"},
      {"port too large",
       "   0: 0100007F:16989 00000000:0000 0A 00000000:00000000 "
       "00:00000000 00000000 0 0 1"},
      {"bad inode",
       "   0: 0100007F:6989 00000000:0000 0A 00000000:00000000 "
       "00:00000000 00000000 0 0 x"},
      {"no slot",
       "0100007F:6989 00000000:0000 0A 00000000:00000000 "
       "00:00000000 00000000 0 0 1 2"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ProcNetTcpResult> result =
        ParseProcNetTcp(kTcp4 + c.line + "\n", AF_INET);
    ASSERT_TRUE(result.ok()) << c.name;
    EXPECT_EQ(result->records.size(), 3u) << c.name;
    EXPECT_EQ(result->malformed_lines, 1u) << c.name;
  }
}

TEST(ParseProcNetTcp, RejectsUnknownFamily) {
  EXPECT_EQ(ParseProcNetTcp(kTcp4, AF_UNIX).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseProcNetTcp, EmptyAndHeaderOnly) {
  for (const char* content : {"", "  sl  local_address rem_address\n"}) {
    absl::StatusOr<ProcNetTcpResult> result = ParseProcNetTcp(content, AF_INET);
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result->records.empty());
    EXPECT_EQ(result->malformed_lines, 0u);
  }
}

TEST(ParseProcNetTcp, RecordsSayTcp) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetTcp(kTcp4, AF_INET);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const v1::SocketRecord& record : result->records) {
    EXPECT_EQ(record.protocol(), v1::PROTOCOL_TCP);
  }
}

TEST(ParseProcNetUdp, Ipv4KeepsOnlyConnectedSockets) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetUdp(kUdp4, AF_INET);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->malformed_lines, 0u);
  EXPECT_EQ(result->unconnected_skipped, 1u);  // 0.0.0.0:53, state 07
  ASSERT_EQ(result->records.size(), 2u);
  const v1::SocketRecord& sender = result->records[0];
  EXPECT_EQ(sender.protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(sender.source(), v1::CAPTURE_SOURCE_PROC_NET_TCP);
  EXPECT_EQ(sender.state(), v1::TCP_STATE_ESTABLISHED);
  EXPECT_EQ(sender.local_ip(), "127.0.0.1");
  EXPECT_EQ(sender.local_port(), 27030u);
  EXPECT_EQ(sender.remote_ip(), "127.0.0.1");
  EXPECT_EQ(sender.remote_port(), 27031u);
  EXPECT_EQ(sender.inode(), 2359240u);
  EXPECT_FALSE(sender.has_tcp_info());
  EXPECT_FALSE(sender.peer_closed());
  EXPECT_EQ(sender.timer(), 0u);
  const v1::SocketRecord& receiver = result->records[1];
  EXPECT_EQ(receiver.local_port(), 27031u);
  EXPECT_EQ(receiver.recv_queue(), 0x340u);  // 100 bytes as 832 of memory
  EXPECT_EQ(receiver.send_queue(), 0u);
}

TEST(ParseProcNetUdp, Ipv6IncludingMappedPeers) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetUdp(kUdp6, AF_INET6);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->malformed_lines, 0u);
  EXPECT_EQ(result->unconnected_skipped, 1u);  // [::]:5353
  ASSERT_EQ(result->records.size(), 3u);
  EXPECT_EQ(result->records[0].local_ip(), "127.0.0.1");
  EXPECT_EQ(result->records[0].remote_ip(), "127.0.0.1");
  EXPECT_EQ(result->records[0].remote_port(), 27030u);
  EXPECT_EQ(result->records[1].local_ip(), "::1");
  EXPECT_EQ(result->records[1].remote_ip(), "::1");
  EXPECT_EQ(result->records[1].remote_port(), 27033u);
  for (const v1::SocketRecord& record : result->records) {
    EXPECT_EQ(record.protocol(), v1::PROTOCOL_UDP);
  }
}

TEST(ParseProcNetUdp, UnconnectedAndMalformedLines) {
  struct Case {
    const char* name;
    std::string line;
    uint32_t skipped;
    uint32_t malformed;
  };
  const Case cases[] = {
      {"established but no remote port",
       "   1: 0A00630A:A028 0200630A:0000 01 00000000:00000000 00:00000000 "
       "00000000 0 0 7 2 0000000000000000 0",
       1, 0},
      {"established to the wildcard address",
       "   1: 0A00630A:A028 00000000:0202 01 00000000:00000000 00:00000000 "
       "00000000 0 0 7 2 0000000000000000 0",
       1, 0},
      {"connected then disconnected (CLOSE)",
       "   1: 0A00630A:A028 0200630A:0202 07 00000000:00000000 00:00000000 "
       "00000000 0 0 7 2 0000000000000000 0",
       1, 0},
      {"too few fields", "   1: 0A00630A:A028 0200630A:0202 01", 0, 1},
      {"bad queue",
       "   1: 0A00630A:A028 0200630A:0202 01 0000000Q:00000000 00:00000000 "
       "00000000 0 0 7 2 0000000000000000 0",
       0, 1},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ProcNetTcpResult> result =
        ParseProcNetUdp(kUdp4 + c.line + "\n", AF_INET);
    ASSERT_TRUE(result.ok()) << c.name;
    EXPECT_EQ(result->records.size(), 2u) << c.name;
    EXPECT_EQ(result->unconnected_skipped, 1u + c.skipped) << c.name;
    EXPECT_EQ(result->malformed_lines, c.malformed) << c.name;
  }
  // A connected syslog client: 10.99.0.10:41000 -> 10.99.0.2:514 with 768
  // bytes the kernel still holds (a neighbour waiting for ARP, say).
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetUdp(
      "   1: 0A00630A:A028 0200630A:0202 01 00000300:00000000 00:00000000 "
      "00000000 1000 0 7 2 0000000000000000 3\n",
      AF_INET);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->records.size(), 1u);
  EXPECT_EQ(result->records[0].remote_ip(), "10.99.0.2");
  EXPECT_EQ(result->records[0].remote_port(), 514u);
  EXPECT_EQ(result->records[0].local_port(), 41000u);
  EXPECT_EQ(result->records[0].send_queue(), 768u);
  EXPECT_EQ(result->records[0].uid(), 1000u);
}

TEST(ParseProcNetUdp, RejectsUnknownFamily) {
  EXPECT_EQ(ParseProcNetUdp(kUdp4, AF_UNIX).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ghostpeer::agent
