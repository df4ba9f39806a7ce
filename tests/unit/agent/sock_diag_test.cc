#include "agent/sock_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>

#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/agent/netlink_builder.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

using test::NetlinkBuilder;

inet_diag_msg Ipv4Msg(const char* src, uint16_t sport, const char* dst,
                      uint16_t dport, uint8_t state) {
  inet_diag_msg msg = {};
  msg.idiag_family = AF_INET;
  msg.idiag_state = state;
  msg.id.idiag_sport = htons(sport);
  msg.id.idiag_dport = htons(dport);
  inet_pton(AF_INET, src, msg.id.idiag_src);
  inet_pton(AF_INET, dst, msg.id.idiag_dst);
  msg.idiag_wqueue = 720;
  msg.idiag_rqueue = 1;
  msg.idiag_inode = 908125;
  msg.idiag_uid = 1000;
  msg.idiag_timer = 1;
  msg.idiag_retrans = 4;
  msg.idiag_expires = 628;
  msg.id.idiag_cookie[0] = 0x1234;
  msg.id.idiag_cookie[1] = 0x1;
  return msg;
}

inet_diag_msg Ipv6Msg(const char* src, const char* dst, uint8_t state) {
  inet_diag_msg msg = {};
  msg.idiag_family = AF_INET6;
  msg.idiag_state = state;
  msg.id.idiag_sport = htons(40000);
  msg.id.idiag_dport = htons(27017);
  inet_pton(AF_INET6, src, msg.id.idiag_src);
  inet_pton(AF_INET6, dst, msg.id.idiag_dst);
  return msg;
}

tcp_info DeadPeerInfo() {
  tcp_info info = {};
  info.tcpi_retransmits = 4;
  info.tcpi_backoff = 4;
  info.tcpi_unacked = 1;
  info.tcpi_total_retrans = 4;
  info.tcpi_rto = 3264000;
  info.tcpi_last_ack_recv = 6080;
  info.tcpi_last_data_recv = 7888;
  info.tcpi_notsent_bytes = 684;
  info.tcpi_bytes_acked = 25801;
  info.tcpi_bytes_sent = 26600;
  return info;
}

TEST(SockDiagRequest, SingleWalkUsesTheCompatRequestWithAfUnspec) {
  const std::vector<uint8_t> request = BuildTcpDumpRequest(DiagFamily::kAll, 7);
  ASSERT_EQ(request.size(), NLMSG_LENGTH(sizeof(inet_diag_req)));
  nlmsghdr header;
  std::memcpy(&header, request.data(), sizeof(header));
  EXPECT_EQ(header.nlmsg_type, TCPDIAG_GETSOCK);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(header.nlmsg_seq, 7u);
  inet_diag_req body;
  std::memcpy(&body, request.data() + NLMSG_HDRLEN, sizeof(body));
  EXPECT_EQ(body.idiag_family, AF_UNSPEC);
  EXPECT_EQ(body.idiag_states, 0x1FFEu);
  EXPECT_EQ(body.idiag_ext,
            (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SHUTDOWN - 1)));
}

TEST(SockDiagRequest, PerFamilyUsesSockDiagByFamily) {
  const std::vector<uint8_t> request =
      BuildTcpDumpRequest(DiagFamily::kIpv6, 3);
  ASSERT_EQ(request.size(), NLMSG_LENGTH(sizeof(inet_diag_req_v2)));
  nlmsghdr header;
  std::memcpy(&header, request.data(), sizeof(header));
  EXPECT_EQ(header.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  inet_diag_req_v2 body;
  std::memcpy(&body, request.data() + NLMSG_HDRLEN, sizeof(body));
  EXPECT_EQ(body.sdiag_family, AF_INET6);
  EXPECT_EQ(body.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(body.idiag_states, kAllTcpStates);
}

TEST(SockDiagParse, FullRecordWithInfoAndShutdown) {
  const tcp_info info = DeadPeerInfo();
  const uint8_t shutdown = 1;
  const std::vector<uint8_t> buffer =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY,
                   Ipv4Msg("10.99.0.3", 43318, "10.99.0.2", 27017, 8))
          .Attribute(INET_DIAG_INFO, &info, sizeof(info))
          .Attribute(INET_DIAG_SHUTDOWN, &shutdown, 1)
          .Done()
          .Build();
  absl::StatusOr<SockDiagParseResult> result = ParseSockDiagMessages(buffer);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->done);
  ASSERT_EQ(result->records.size(), 1);
  const v1::SocketRecord& record = result->records[0];
  EXPECT_EQ(record.local_ip(), "10.99.0.3");
  EXPECT_EQ(record.local_port(), 43318u);
  EXPECT_EQ(record.remote_ip(), "10.99.0.2");
  EXPECT_EQ(record.remote_port(), 27017u);
  EXPECT_EQ(record.state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(record.send_queue(), 720u);
  EXPECT_EQ(record.recv_queue(), 1u);
  EXPECT_EQ(record.inode(), 908125u);
  EXPECT_EQ(record.uid(), 1000u);
  EXPECT_EQ(record.cookie(), 0x100001234u);
  EXPECT_EQ(record.timer(), 1u);
  EXPECT_EQ(record.timer_expires_ms(), 628u);
  EXPECT_TRUE(record.peer_closed());
  EXPECT_EQ(record.source(), v1::CAPTURE_SOURCE_SOCK_DIAG);
  ASSERT_TRUE(record.has_tcp_info());
  EXPECT_EQ(record.tcp_info().backoff(), 4u);
  EXPECT_EQ(record.tcp_info().retransmits(), 4u);
  EXPECT_EQ(record.tcp_info().unacked(), 1u);
  EXPECT_EQ(record.tcp_info().rto_us(), 3264000u);
  EXPECT_EQ(record.tcp_info().last_ack_recv_ms(), 6080u);
  EXPECT_EQ(record.tcp_info().notsent_bytes(), 684u);
  EXPECT_EQ(record.tcp_info().bytes_sent(), 26600u);
  EXPECT_EQ(record.tcp_info().bytes_acked(), 25801u);
}

TEST(SockDiagRequest, UdpAsksForConnectedSocketsOfOneFamily) {
  for (DiagFamily family : {DiagFamily::kIpv4, DiagFamily::kIpv6}) {
    const int expected_family =
        family == DiagFamily::kIpv4 ? AF_INET : AF_INET6;
    const std::vector<uint8_t> request = BuildUdpDumpRequest(family, 9);
    ASSERT_EQ(request.size(), NLMSG_LENGTH(sizeof(inet_diag_req_v2)));
    nlmsghdr header;
    std::memcpy(&header, request.data(), sizeof(header));
    EXPECT_EQ(header.nlmsg_type, SOCK_DIAG_BY_FAMILY) << expected_family;
    EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_EQ(header.nlmsg_seq, 9u);
    inet_diag_req_v2 body;
    std::memcpy(&body, request.data() + NLMSG_HDRLEN, sizeof(body));
    EXPECT_EQ(body.sdiag_family, expected_family);
    EXPECT_EQ(body.sdiag_protocol, IPPROTO_UDP);
    // ESTABLISHED (1) alone: CLOSE (7), an unconnected socket, is left out by
    // the kernel itself.
    EXPECT_EQ(body.idiag_states, 1u << 1);
    EXPECT_EQ(body.idiag_ext, 0);
  }
}

// The same inet_diag_msg read as UDP: protocol set, nothing taken from the
// attributes (a UDP socket's sk_shutdown is its own shutdown(), not a FIN),
// and a record without a peer dropped and counted.
TEST(SockDiagParse, UdpRecordsAreConnectedSocketsWithoutTcpState) {
  const auto parse = [](const inet_diag_msg& msg) {
    const uint8_t shutdown = 3;
    const tcp_info info = DeadPeerInfo();
    const std::vector<uint8_t> buffer =
        NetlinkBuilder()
            .Message(SOCK_DIAG_BY_FAMILY, msg)
            .Attribute(INET_DIAG_SHUTDOWN, &shutdown, 1)
            .Attribute(INET_DIAG_INFO, &info, sizeof(info))
            .Done()
            .Build();
    return ParseSockDiagMessages(buffer, {}, v1::PROTOCOL_UDP);
  };
  absl::StatusOr<SockDiagParseResult> result =
      parse(Ipv4Msg("10.99.0.10", 41000, "10.99.0.2", 514, 1));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->records.size(), 1);
  const v1::SocketRecord& record = result->records[0];
  EXPECT_EQ(record.protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(record.state(), v1::TCP_STATE_ESTABLISHED);
  EXPECT_EQ(record.remote_ip(), "10.99.0.2");
  EXPECT_EQ(record.remote_port(), 514u);
  EXPECT_EQ(record.send_queue(), 720u);
  EXPECT_EQ(record.recv_queue(), 1u);
  EXPECT_EQ(record.inode(), 908125u);
  EXPECT_FALSE(record.has_tcp_info());
  EXPECT_FALSE(record.peer_closed());
  EXPECT_EQ(result->unconnected_skipped, 0u);

  struct Case {
    const char* name;
    inet_diag_msg msg;
  };
  const Case unconnected[] = {
      {"remote port 0", Ipv4Msg("10.99.0.10", 41000, "10.99.0.2", 0, 1)},
      {"IPv4 wildcard", Ipv4Msg("0.0.0.0", 53, "0.0.0.0", 0, 7)},
      {"IPv4 wildcard address, a port",
       Ipv4Msg("10.99.0.10", 41000, "0.0.0.0", 53, 1)},
      {"IPv6 wildcard", Ipv6Msg("fd00:99::a", "::", 1)},
      {"a peer but CLOSE", Ipv4Msg("10.99.0.10", 41000, "10.99.0.2", 514, 7)},
  };
  for (const Case& c : unconnected) {
    absl::StatusOr<SockDiagParseResult> skipped = parse(c.msg);
    ASSERT_TRUE(skipped.ok()) << c.name;
    EXPECT_TRUE(skipped->done) << c.name;
    EXPECT_EQ(skipped->records.size(), 0) << c.name;
    EXPECT_EQ(skipped->unconnected_skipped, 1u) << c.name;
  }
}

TEST(SockDiagParse, TcpRecordsSayTcp) {
  const std::vector<uint8_t> buffer =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY,
                   Ipv4Msg("10.99.0.10", 41000, "10.99.0.2", 0, 10))
          .Build();
  absl::StatusOr<SockDiagParseResult> result = ParseSockDiagMessages(buffer);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->records.size(), 1);  // a TCP listener has no peer: kept
  EXPECT_EQ(result->records[0].protocol(), v1::PROTOCOL_TCP);
}

TEST(SockDiagParse, Ipv6AndMappedAddresses) {
  struct Case {
    const char* name;
    const char* address;
    const char* expected;
  };
  const Case cases[] = {
      {"plain", "fd00:99::2", "fd00:99::2"},
      {"loopback", "::1", "::1"},
      {"mapped shown as IPv4", "::ffff:10.0.1.6", "10.0.1.6"},
      {"any", "::", "::"},
  };
  for (const Case& c : cases) {
    const std::vector<uint8_t> buffer =
        NetlinkBuilder()
            .Message(SOCK_DIAG_BY_FAMILY, Ipv6Msg("fd00:99::a", c.address, 1))
            .Build();
    absl::StatusOr<SockDiagParseResult> result = ParseSockDiagMessages(buffer);
    ASSERT_TRUE(result.ok()) << c.name;
    ASSERT_EQ(result->records.size(), 1) << c.name;
    EXPECT_EQ(result->records[0].remote_ip(), c.expected) << c.name;
    EXPECT_EQ(result->records[0].local_ip(), "fd00:99::a") << c.name;
    EXPECT_FALSE(result->done) << c.name;
    EXPECT_FALSE(result->records[0].has_tcp_info()) << c.name;
  }
}

TEST(SockDiagParse, TcpInfoOfAnyLengthIsZeroFilled) {
  struct Case {
    const char* name;
    size_t length;
    uint32_t expected_backoff;
    uint64_t expected_bytes_sent;
  };
  const Case cases[] = {
      {"one byte", 1, 0, 0},
      {"up to rto (old kernel)", offsetof(tcp_info, tcpi_rto) + 4, 4, 0},
      {"without bytes_sent", offsetof(tcp_info, tcpi_bytes_sent), 4, 0},
      {"exact", sizeof(tcp_info), 4, 26600},
      {"longer than ours (newer kernel)", sizeof(tcp_info) + 48, 4, 26600},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> info(std::max(c.length, sizeof(tcp_info)), 0xAB);
    const tcp_info dead = DeadPeerInfo();
    std::memcpy(info.data(), &dead, sizeof(dead));
    const std::vector<uint8_t> buffer =
        NetlinkBuilder()
            .Message(SOCK_DIAG_BY_FAMILY,
                     Ipv4Msg("1.2.3.4", 1, "5.6.7.8", 2, 1))
            .Attribute(INET_DIAG_INFO, info.data(), c.length)
            .Build();
    absl::StatusOr<SockDiagParseResult> result = ParseSockDiagMessages(buffer);
    ASSERT_TRUE(result.ok()) << c.name;
    ASSERT_EQ(result->records.size(), 1) << c.name;
    EXPECT_EQ(result->records[0].tcp_info().backoff(), c.expected_backoff)
        << c.name;
    EXPECT_EQ(result->records[0].tcp_info().bytes_sent(), c.expected_bytes_sent)
        << c.name;
  }
}

TEST(SockDiagParse, MultiPartAcrossBuffersAppends) {
  SockDiagParseResult result;
  const std::vector<uint8_t> first =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY, Ipv4Msg("1.1.1.1", 1, "2.2.2.2", 2, 1),
                   NLM_F_MULTI)
          .Message(SOCK_DIAG_BY_FAMILY, Ipv4Msg("1.1.1.1", 3, "2.2.2.2", 4, 1),
                   NLM_F_MULTI)
          .Build();
  const std::vector<uint8_t> second =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY, Ipv6Msg("::1", "::1", 10), NLM_F_MULTI)
          .Done()
          .Build();
  ASSERT_TRUE(ParseSockDiagMessagesInto(first, {}, &result).ok());
  EXPECT_FALSE(result.done);
  ASSERT_TRUE(ParseSockDiagMessagesInto(second, {}, &result).ok());
  EXPECT_TRUE(result.done);
  ASSERT_EQ(result.records.size(), 3);
  EXPECT_EQ(result.records[1].local_port(), 3u);
  EXPECT_EQ(result.records[2].state(), v1::TCP_STATE_LISTEN);
}

TEST(SockDiagParse, ErrorsAndMalformedInput) {
  const tcp_info info = DeadPeerInfo();
  const auto record = [] { return Ipv4Msg("1.1.1.1", 1, "2.2.2.2", 2, 1); };
  struct Case {
    const char* name;
    std::vector<uint8_t> buffer;
    absl::StatusCode code;
    int records;
    bool done;
    bool interrupted;
    uint32_t malformed_records;
    uint32_t malformed_attributes;
  };
  std::vector<uint8_t> trailing =
      NetlinkBuilder().Message(SOCK_DIAG_BY_FAMILY, record()).Build();
  trailing.insert(trailing.end(), {1, 2, 3});
  std::vector<uint8_t> cut_in_half =
      NetlinkBuilder().Message(SOCK_DIAG_BY_FAMILY, record()).Build();
  const std::vector<uint8_t> second =
      NetlinkBuilder().Message(SOCK_DIAG_BY_FAMILY, record()).Build();
  cut_in_half.insert(cut_in_half.end(), second.begin(), second.begin() + 40);
  const uint8_t short_msg[20] = {};
  const uint32_t unknown = 0xdeadbeef;

  std::vector<Case> cases;
  cases.push_back({"NLMSG_ERROR EPERM", NetlinkBuilder().Error(-EPERM).Build(),
                   absl::StatusCode::kPermissionDenied, 0, false, false, 0, 0});
  cases.push_back({"NLMSG_ERROR after a record keeps the record",
                   NetlinkBuilder()
                       .Message(SOCK_DIAG_BY_FAMILY, record())
                       .Error(-ENOENT)
                       .Build(),
                   absl::StatusCode::kNotFound, 1, false, false, 0, 0});
  cases.push_back({"ack (error 0) is skipped",
                   NetlinkBuilder().Error(0).Done().Build(),
                   absl::StatusCode::kOk, 0, true, false, 0, 0});
  cases.push_back({"DONE carrying an error",
                   NetlinkBuilder().Done(1, -EINTR).Build(),
                   absl::StatusCode::kUnavailable, 0, false, false, 0, 0});
  // Codes that are no errno (found by sock_diag_fuzzer: negating INT32_MIN
  // was undefined behaviour).
  cases.push_back({"NLMSG_ERROR INT32_MIN is no errno",
                   NetlinkBuilder().Error(INT32_MIN).Build(),
                   absl::StatusCode::kDataLoss, 0, false, false, 0, 0});
  cases.push_back({"NLMSG_ERROR below -MAX_ERRNO is no errno",
                   NetlinkBuilder().Error(-4096).Build(),
                   absl::StatusCode::kDataLoss, 0, false, false, 0, 0});
  cases.push_back({"NLMSG_ERROR positive is no errno",
                   NetlinkBuilder().Error(EPERM).Build(),
                   absl::StatusCode::kDataLoss, 0, false, false, 0, 0});
  cases.push_back({"DONE carrying INT32_MIN is no errno",
                   NetlinkBuilder().Done(1, INT32_MIN).Build(),
                   absl::StatusCode::kDataLoss, 0, false, false, 0, 0});
  cases.push_back({"DUMP_INTR flagged",
                   NetlinkBuilder()
                       .Message(SOCK_DIAG_BY_FAMILY, record(),
                                NLM_F_MULTI | NLM_F_DUMP_INTR)
                       .Done()
                       .Build(),
                   absl::StatusCode::kOk, 1, true, true, 0, 0});
  cases.push_back(
      {"DUMP_INTR on DONE only",
       NetlinkBuilder().Done(1, 0, NLM_F_MULTI | NLM_F_DUMP_INTR).Build(),
       absl::StatusCode::kOk, 0, true, true, 0, 0});
  cases.push_back({"trailing garbage shorter than a header", trailing,
                   absl::StatusCode::kDataLoss, 1, false, false, 0, 0});
  cases.push_back({"message cut in half", cut_in_half,
                   absl::StatusCode::kDataLoss, 1, false, false, 0, 0});
  cases.push_back({"length shorter than a header",
                   NetlinkBuilder()
                       .Message(SOCK_DIAG_BY_FAMILY, record())
                       .OverrideLength(8)
                       .Build(),
                   absl::StatusCode::kDataLoss, 0, false, false, 0, 0});
  cases.push_back(
      {"payload shorter than inet_diag_msg is skipped",
       NetlinkBuilder()
           .RawMessage(SOCK_DIAG_BY_FAMILY, short_msg, sizeof(short_msg))
           .Message(SOCK_DIAG_BY_FAMILY, record())
           .Done()
           .Build(),
       absl::StatusCode::kOk, 1, true, false, 1, 0});
  cases.push_back({"unknown message type is skipped",
                   NetlinkBuilder().Message(99, record()).Done().Build(),
                   absl::StatusCode::kOk, 0, true, false, 1, 0});
  cases.push_back({"unknown attribute is skipped",
                   NetlinkBuilder()
                       .Message(SOCK_DIAG_BY_FAMILY, record())
                       .Attribute(200, &unknown, sizeof(unknown))
                       .Attribute(INET_DIAG_INFO, &info, sizeof(info))
                       .Done()
                       .Build(),
                   absl::StatusCode::kOk, 1, true, false, 0, 0});
  // An attribute claiming more bytes than the message has.
  std::vector<uint8_t> bad_attribute =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY, record())
          .Attribute(INET_DIAG_INFO, &info, 8)
          .Build();
  const uint16_t too_long = 400;
  std::memcpy(bad_attribute.data() + NLMSG_HDRLEN + sizeof(inet_diag_msg),
              &too_long, sizeof(too_long));
  cases.push_back({"truncated attribute keeps the record", bad_attribute,
                   absl::StatusCode::kOk, 1, false, false, 0, 1});
  cases.push_back(
      {"empty buffer", {}, absl::StatusCode::kOk, 0, false, false, 0, 0});

  for (const Case& c : cases) {
    SockDiagParseResult result;
    const absl::Status status =
        ParseSockDiagMessagesInto(c.buffer, {}, &result);
    EXPECT_EQ(status.code(), c.code) << c.name << ": " << status;
    EXPECT_EQ(result.records.size(), c.records) << c.name;
    EXPECT_EQ(result.done, c.done) << c.name;
    EXPECT_EQ(result.dump_interrupted, c.interrupted) << c.name;
    EXPECT_EQ(result.malformed_records, c.malformed_records) << c.name;
    EXPECT_EQ(result.malformed_attributes, c.malformed_attributes) << c.name;
  }
}

TEST(SockDiagParse, RepliesToAnotherRequestAreIgnored) {
  const std::vector<uint8_t> buffer =
      NetlinkBuilder()
          .Message(SOCK_DIAG_BY_FAMILY, Ipv4Msg("1.1.1.1", 1, "2.2.2.2", 2, 1),
                   NLM_F_MULTI, /*seq=*/6, /*port_id=*/77)
          .Message(SOCK_DIAG_BY_FAMILY, Ipv4Msg("1.1.1.1", 9, "2.2.2.2", 2, 1),
                   NLM_F_MULTI, /*seq=*/5, /*port_id=*/77)
          .Message(SOCK_DIAG_BY_FAMILY, Ipv4Msg("1.1.1.1", 8, "2.2.2.2", 2, 1),
                   NLM_F_MULTI, /*seq=*/5, /*port_id=*/78)
          .Build();
  absl::StatusOr<SockDiagParseResult> result =
      ParseSockDiagMessages(buffer, NetlinkExpect{5, 77});
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->records.size(), 1);
  EXPECT_EQ(result->records[0].local_port(), 9u);
  EXPECT_EQ(result->foreign_messages, 2u);
}

// Inputs sock_diag_fuzzer (tests/fuzz/) crashed on, kept as found.
TEST(SockDiagParse, InputsFoundByTheFuzzer) {
  struct Case {
    const char* name;
    absl::StatusCode code;
  };
  const Case cases[] = {
      // Records, then an NLMSG_ERROR carrying INT32_MIN.
      {"nlmsg_error_int32_min.nlbin", absl::StatusCode::kDataLoss},
  };
  for (const Case& c : cases) {
    const std::vector<uint8_t> bytes =
        test::ReadTestdata(std::string("fuzz/sock_diag/") + c.name);
    ASSERT_FALSE(bytes.empty()) << "missing " << c.name;
    SockDiagParseResult result;
    EXPECT_EQ(ParseSockDiagMessagesInto(bytes, {}, &result).code(), c.code)
        << c.name;
  }
}

// Captured from a throwaway namespace by tests/support/record_netlink_golden
// (see that file for the sockets it opens).
TEST(SockDiagGolden, RecordedDumpOfAKnownNamespace) {
  const std::vector<uint8_t> bytes = test::ReadTestdata("agent/tcp_dump.nlbin");
  ASSERT_FALSE(bytes.empty()) << "missing golden file";
  absl::StatusOr<SockDiagParseResult> result = ParseSockDiagMessages(bytes);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->done);
  EXPECT_EQ(result->malformed_records, 0u);
  EXPECT_EQ(result->malformed_attributes, 0u);
  // 3 listeners + 4 connections x 2 ends.
  ASSERT_EQ(result->records.size(), 11);

  const auto find = [&](const std::string& local_ip, uint32_t local_port,
                        v1::TcpState state) -> const v1::SocketRecord* {
    for (const v1::SocketRecord& record : result->records) {
      if (record.local_ip() == local_ip && record.local_port() == local_port &&
          record.state() == state) {
        return &record;
      }
    }
    return nullptr;
  };
  struct Case {
    const char* name;
    const char* local_ip;
    uint32_t local_port;
    v1::TcpState state;
  };
  const Case cases[] = {
      {"IPv4 listener", "127.0.0.1", 27017, v1::TCP_STATE_LISTEN},
      {"IPv6 listener", "::1", 27018, v1::TCP_STATE_LISTEN},
      {"dual-stack listener", "::", 27019, v1::TCP_STATE_LISTEN},
      {"mapped server end shown as IPv4", "127.0.0.1", 27019,
       v1::TCP_STATE_ESTABLISHED},
      {"IPv6 server end", "::1", 27018, v1::TCP_STATE_ESTABLISHED},
      {"server that sent FIN", "127.0.0.1", 27017, v1::TCP_STATE_FIN_WAIT2},
  };
  for (const Case& c : cases) {
    const v1::SocketRecord* record = find(c.local_ip, c.local_port, c.state);
    ASSERT_NE(record, nullptr) << c.name;
    EXPECT_NE(record->inode(), 0u) << c.name;
    EXPECT_NE(record->cookie(), 0u) << c.name;
  }
  int close_wait = 0, with_info = 0, unread = 0;
  for (const v1::SocketRecord& record : result->records) {
    if (record.has_tcp_info()) ++with_info;
    if (record.recv_queue() == 5 && record.local_port() == 27017) ++unread;
    if (record.state() == v1::TCP_STATE_CLOSE_WAIT) {
      ++close_wait;
      EXPECT_TRUE(record.peer_closed());
      EXPECT_EQ(record.remote_port(), 27017u);
      EXPECT_EQ(record.remote_ip(), "127.0.0.1");
    } else if (record.state() == v1::TCP_STATE_ESTABLISHED) {
      EXPECT_FALSE(record.peer_closed());
    }
  }
  EXPECT_EQ(close_wait, 1);
  EXPECT_EQ(unread, 1);  // "hello", unread by the server
  EXPECT_EQ(with_info, 11);
}

// Recorded by tests/support/record_netlink_golden (see that file): the
// kernel's own answer to the agent's UDP requests in a namespace holding
// connected and unconnected UDP sockets of both families.
TEST(SockDiagGolden, RecordedUdpDumpsHoldOnlyConnectedSockets) {
  struct Endpoints {
    const char* local_ip;
    uint32_t local_port;
    const char* remote_ip;
    uint32_t remote_port;
  };
  struct Case {
    const char* file;
    std::vector<Endpoints> expected;
  };
  const Case cases[] = {
      {"agent/udp_dump.nlbin",
       {{"127.0.0.1", 27030, "127.0.0.1", 27031},
        {"127.0.0.1", 27031, "127.0.0.1", 27030}}},
      {"agent/udp6_dump.nlbin",
       {{"::1", 27032, "::1", 27033},
        {"::1", 27033, "::1", 27032},
        {"127.0.0.1", 0, "127.0.0.1", 27030}}},  // IPv4-mapped; any port
  };
  for (const Case& c : cases) {
    const std::vector<uint8_t> bytes = test::ReadTestdata(c.file);
    ASSERT_FALSE(bytes.empty()) << "missing " << c.file;
    absl::StatusOr<SockDiagParseResult> result =
        ParseSockDiagMessages(bytes, {}, v1::PROTOCOL_UDP);
    ASSERT_TRUE(result.ok()) << c.file << ": " << result.status();
    EXPECT_TRUE(result->done) << c.file;
    EXPECT_EQ(result->malformed_records, 0u) << c.file;
    EXPECT_EQ(result->unconnected_skipped, 0u) << c.file;
    // The unconnected sockets (0.0.0.0:27034 after a sendto(), [::]:27035)
    // are not in the kernel's reply at all.
    ASSERT_EQ(result->records.size(), static_cast<int>(c.expected.size()))
        << c.file;
    for (const Endpoints& e : c.expected) {
      const v1::SocketRecord* found = nullptr;
      for (const v1::SocketRecord& record : result->records) {
        if (record.local_ip() == e.local_ip &&
            (e.local_port == 0 || record.local_port() == e.local_port) &&
            record.remote_ip() == e.remote_ip &&
            record.remote_port() == e.remote_port) {
          found = &record;
        }
      }
      ASSERT_NE(found, nullptr) << c.file << " " << e.local_ip << ":"
                                << e.local_port << " -> " << e.remote_port;
      EXPECT_EQ(found->protocol(), v1::PROTOCOL_UDP);
      EXPECT_EQ(found->state(), v1::TCP_STATE_ESTABLISHED);
      EXPECT_NE(found->inode(), 0u);
      EXPECT_NE(found->cookie(), 0u);
      EXPECT_FALSE(found->has_tcp_info());
      // Only :27031 holds a datagram it has not read; the queue is receive
      // memory (payload plus overhead), so more than its 100 bytes.
      if (std::string(e.local_ip) == "127.0.0.1" && e.local_port == 27031) {
        EXPECT_GT(found->recv_queue(), 100u);
      } else {
        EXPECT_EQ(found->recv_queue(), 0u) << e.local_port;
      }
    }
  }
}

}  // namespace
}  // namespace ghostpeer::agent
