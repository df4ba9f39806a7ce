#include "agent/translation.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/netlink_builder.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {

// gtest's printer for failures (found by argument-dependent lookup).
void PrintTo(const Translation& t, std::ostream* os) {
  *os << (t.translator == Translator::kIpvs ? "ipvs" : "conntrack") << " proto "
      << int{t.protocol} << " " << t.client_ip << ":" << t.client_port << " -> "
      << t.service_ip << ":" << t.service_port << " -> " << t.backend_ip << ":"
      << t.backend_port << " " << t.state << " " << t.expires_s << "s";
}

namespace {

using test::NetlinkBuilder;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Recorded by tests/support/record_conntrack_golden.sh (kernel 6.18) from
// the router namespace of one run, before the request asked the kernel to
// filter by IPS_DST_NAT (so it is what kernels without that filter send): TCP
// through the DNAT VIP 10.77.9.9:8080 (IPv4) and [fd00:77:9::9]:8080 (IPv6)
// ESTABLISHED, :8081 in CLOSE_WAIT (backend closed first), UDP :5353 UNREPLIED,
// all to backend .11 / ::11; one TCP flow straight to 10.77.2.11:9000 (no NAT)
// and the bridge's IGMP entry, which the parsers must skip.
const std::vector<uint8_t> kDump =
    test::ReadTestdata("agent/conntrack_dump.nlbin");
const std::vector<uint8_t> kEperm =
    test::ReadTestdata("agent/conntrack_eperm.nlbin");
const std::string kProcConntrack =
    test::ReadTestdataText("agent/nf_conntrack.txt");
// Constructed from ip_vs_conn_seq_show's format strings (this kernel has no
// IPVS): every TCP state name, UDP, IPv6, a mixed-family destination, a
// persistence-engine suffix and an SCTP line.
const std::string kIpVsConn = test::ReadTestdataText("agent/ip_vs_conn.txt");

// What a translation says, without the expiry (which ticks between the two
// recordings of the same run).
using Flow = std::tuple<Translator, uint8_t, std::string, uint16_t, std::string,
                        uint16_t, std::string, uint16_t, std::string>;
Flow Key(const Translation& t) {
  return {t.translator,  t.protocol,     t.client_ip,
          t.client_port, t.service_ip,   t.service_port,
          t.backend_ip,  t.backend_port, t.state};
}
std::set<Flow> Keys(const std::vector<Translation>& flows) {
  std::set<Flow> keys;
  for (const Translation& t : flows) keys.insert(Key(t));
  return keys;
}

const Translation* ByService(const std::vector<Translation>& flows,
                             const std::string& ip, uint16_t port) {
  for (const Translation& t : flows) {
    if (t.service_ip == ip && t.service_port == port) return &t;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// ip_vs_conn

Translation Ipvs(uint8_t protocol, std::string client_ip, uint16_t client_port,
                 std::string service_ip, uint16_t service_port,
                 std::string backend_ip, uint16_t backend_port,
                 std::string state, uint32_t expires_s) {
  Translation t;
  t.translator = Translator::kIpvs;
  t.protocol = protocol;
  t.client_ip = std::move(client_ip);
  t.client_port = client_port;
  t.service_ip = std::move(service_ip);
  t.service_port = service_port;
  t.backend_ip = std::move(backend_ip);
  t.backend_port = backend_port;
  t.state = std::move(state);
  t.expires_s = expires_s;
  return t;
}

TEST(ParseIpVsConn, RecordedTextEveryStateAndFamily) {
  size_t malformed = 99;
  const std::vector<Translation> flows = ParseIpVsConn(kIpVsConn, &malformed);
  EXPECT_EQ(malformed, 0u);
  ASSERT_EQ(flows.size(), 16u);  // the header and SCTP are not flows

  // 0A000105 is ntohl()-printed: 10.0.1.5, not /proc/net/tcp's 5.1.0.10.
  EXPECT_EQ(flows[0], Ipvs(IPPROTO_TCP, "10.0.1.5", 41414, "10.0.1.2", 9000,
                           "10.0.1.8", 9000, "NONE", 60));
  std::vector<std::string> tcp_states;
  for (size_t i = 0; i < 11; ++i) tcp_states.push_back(flows[i].state);
  EXPECT_THAT(tcp_states,
              ElementsAre("NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                          "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
                          "LAST_ACK", "LISTEN", "SYNACK"));
  EXPECT_EQ(flows[7].client_port, 41421);
  EXPECT_EQ(flows[7].expires_s, 59u);

  const Translation& udp = flows[11];
  EXPECT_EQ(udp.protocol, IPPROTO_UDP);
  EXPECT_EQ(udp.service_ip, "10.0.1.3");
  EXPECT_EQ(udp.service_port, 53);
  EXPECT_EQ(udp.backend_ip, "10.0.1.9");
  EXPECT_EQ(udp.state, "UDP");

  // %pI6 prints every group; the join needs inet_ntop's text.
  EXPECT_EQ(flows[12], Ipvs(IPPROTO_TCP, "fd00:1::5", 41500, "fd00:1::2", 443,
                            "fd00:1::8", 443, "ESTABLISHED", 900));
  EXPECT_EQ(flows[13].protocol, IPPROTO_UDP);
  EXPECT_EQ(flows[13].backend_ip, "fd00:1::9");

  const Translation& mixed = flows[14];
  EXPECT_EQ(mixed.client_ip, "192.168.7.1");
  EXPECT_EQ(mixed.service_ip, "192.168.7.100");
  EXPECT_EQ(mixed.backend_ip, "2001:db8::80");
  EXPECT_EQ(mixed.backend_port, 8080);

  const Translation& sip = flows[15];
  EXPECT_EQ(sip.service_ip, "10.0.2.2");
  EXPECT_EQ(sip.expires_s, 180u);
}

TEST(ParseIpVsConn, MalformedLinesAreSkippedAndCounted) {
  const std::string good =
      "TCP 0A000105 A1C6 0A000102 2328 0A000108 2328 ESTABLISHED     897\n";
  struct Case {
    const char* name;
    const char* line;
  };
  const Case cases[] = {
      {"too few fields", "TCP 0A000105 A1C6 0A000102 2328 0A000108 2328 NONE"},
      {"short address", "TCP 0A00105 A1C6 0A000102 2328 0A000108 2328 NONE 1"},
      {"long address", "TCP 0A0001050 A1C6 0A000102 2328 0A000108 2328 NONE 1"},
      {"not hex", "TCP 0A00010G A1C6 0A000102 2328 0A000108 2328 NONE 1"},
      {"0x prefix", "TCP 0A000105 0x12 0A000102 2328 0A000108 2328 NONE 1"},
      {"port too long", "TCP 0A000105 A1C60 0A000102 2328 0A000108 2328 X 1"},
      {"signed port", "TCP 0A000105 -1C6 0A000102 2328 0A000108 2328 NONE 1"},
      {"bad IPv6", "TCP fd00::1::2 A1C6 0A000102 2328 0A000108 2328 NONE 1"},
      {"state with bytes",
       "TCP 0A000105 A1C6 0A000102 2328 0A000108 2328 est\x1b[1m 1"},
      {"negative expiry",
       "TCP 0A000105 A1C6 0A000102 2328 0A000108 2328 NONE -5"},
      {"huge expiry",
       "TCP 0A000105 A1C6 0A000102 2328 0A000108 2328 NONE 99999999999"},
      {"no protocol", "T-P 0A000105 A1C6 0A000102 2328 0A000108 2328 NONE 1"},
  };
  for (const Case& c : cases) {
    size_t malformed = 0;
    const std::vector<Translation> flows =
        ParseIpVsConn(absl::StrCat(good, c.line, "\n", good), &malformed);
    EXPECT_EQ(flows.size(), 2u) << c.name;
    EXPECT_EQ(malformed, 1u) << c.name;
  }
}

TEST(ParseIpVsConn, EmptyHeaderOnlyAndOtherProtocols) {
  size_t malformed = 7;
  EXPECT_THAT(ParseIpVsConn("", &malformed), IsEmpty());
  EXPECT_EQ(malformed, 0u);
  EXPECT_THAT(ParseIpVsConn("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt "
                            "State       Expires PEName PEData\n\n",
                            &malformed),
              IsEmpty());
  EXPECT_EQ(malformed, 0u);
  EXPECT_THAT(
      ParseIpVsConn("ESP 0A000105 0000 0A000102 0000 0A000108 0000 NONE 1\n",
                    &malformed),
      IsEmpty());
  EXPECT_EQ(malformed, 0u);
  EXPECT_THAT(ParseIpVsConn("TCP 0A000105", nullptr), IsEmpty());
}

// ---------------------------------------------------------------------------
// ctnetlink: recorded dump

TEST(ParseConntrackDump, RecordedDumpKeepsTheDnatFlowsOfBothFamilies) {
  ASSERT_FALSE(kDump.empty()) << "tests/testdata/agent/conntrack_dump.nlbin";
  std::vector<Translation> flows;
  bool done = false;
  const absl::Status status = ParseConntrackDump(kDump, &flows, &done);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(done);
  ASSERT_EQ(flows.size(), 4u);  // not the direct :9000 flow, not IGMP

  const Translation* established = ByService(flows, "10.77.9.9", 8080);
  ASSERT_NE(established, nullptr);
  EXPECT_EQ(established->translator, Translator::kConntrack);
  EXPECT_EQ(established->protocol, IPPROTO_TCP);
  EXPECT_EQ(established->client_ip, "10.77.1.2");
  EXPECT_NE(established->client_port, 0);
  EXPECT_EQ(established->backend_ip, "10.77.2.11");
  EXPECT_EQ(established->backend_port, 8080);
  EXPECT_EQ(established->state, "ESTABLISHED");
  EXPECT_GT(established->expires_s, 400000u);  // 5 days, counting down

  const Translation* close_wait = ByService(flows, "10.77.9.9", 8081);
  ASSERT_NE(close_wait, nullptr);
  EXPECT_EQ(close_wait->backend_ip, "10.77.2.11");
  EXPECT_EQ(close_wait->backend_port, 8081);
  EXPECT_EQ(close_wait->state, "CLOSE_WAIT");
  EXPECT_LE(close_wait->expires_s, 60u);

  const Translation* v6 = ByService(flows, "fd00:77:9::9", 8080);
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->client_ip, "fd00:77:1::2");
  EXPECT_EQ(v6->backend_ip, "fd00:77:2::11");
  EXPECT_EQ(v6->backend_port, 8080);
  EXPECT_EQ(v6->state, "ESTABLISHED");

  const Translation* udp = ByService(flows, "10.77.9.9", 5353);
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->protocol, IPPROTO_UDP);
  EXPECT_EQ(udp->backend_ip, "10.77.2.11");
  EXPECT_EQ(udp->backend_port, 5353);
  EXPECT_EQ(udp->state, "UNREPLIED");
  EXPECT_LE(udp->expires_s, 30u);

  EXPECT_EQ(ByService(flows, "10.77.2.11", 9000), nullptr);
}

TEST(ParseConntrackDump, ProcFileOfTheSameRunSaysTheSame) {
  size_t malformed = 99;
  const std::vector<Translation> from_proc =
      ParseProcConntrack(kProcConntrack, &malformed);
  EXPECT_EQ(malformed, 0u);
  std::vector<Translation> from_netlink;
  bool done = false;
  ASSERT_TRUE(ParseConntrackDump(kDump, &from_netlink, &done).ok());
  EXPECT_EQ(from_proc.size(), 4u);
  EXPECT_EQ(Keys(from_proc), Keys(from_netlink));
}

TEST(ParseConntrackDump, EveryTruncationFailsCleanlyAndKeepsAPrefix) {
  std::vector<Translation> whole;
  bool done = false;
  ASSERT_TRUE(ParseConntrackDump(kDump, &whole, &done).ok());
  size_t invalid = 0;
  for (size_t size = 0; size < kDump.size(); ++size) {
    std::vector<Translation> flows;
    bool cut_done = false;
    const absl::Status status = ParseConntrackDump(
        absl::MakeConstSpan(kDump.data(), size), &flows, &cut_done);
    ASSERT_TRUE(status.ok() || absl::IsInvalidArgument(status))
        << size << ": " << status;
    if (!status.ok()) ++invalid;
    // No NLMSG_DONE in a cut buffer (it is the last message), and what was
    // parsed is what the whole dump starts with.
    EXPECT_FALSE(cut_done) << size;
    ASSERT_LE(flows.size(), whole.size()) << size;
    for (size_t i = 0; i < flows.size(); ++i) {
      EXPECT_EQ(flows[i], whole[i]) << size;
    }
  }
  // Only cuts at message boundaries are well-formed.
  EXPECT_GT(invalid, kDump.size() * 9 / 10);
}

TEST(ParseConntrackDump, RecordedEpermIsPermissionDenied) {
  ASSERT_FALSE(kEperm.empty());
  std::vector<Translation> flows;
  bool done = false;
  const absl::Status status = ParseConntrackDump(kEperm, &flows, &done);
  EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  EXPECT_THAT(flows, IsEmpty());
  EXPECT_FALSE(done);
}

// ---------------------------------------------------------------------------
// ctnetlink: hand-made messages

std::vector<uint8_t> Attr(uint16_t type, const void* data, size_t size) {
  std::vector<uint8_t> bytes(NLA_HDRLEN + size);
  nlattr header = {};
  header.nla_len = static_cast<uint16_t>(NLA_HDRLEN + size);
  header.nla_type = type;
  std::memcpy(bytes.data(), &header, sizeof(header));
  if (size > 0) std::memcpy(bytes.data() + NLA_HDRLEN, data, size);
  while (bytes.size() % 4 != 0) bytes.push_back(0);
  return bytes;
}

std::vector<uint8_t> Nest(uint16_t type,
                          const std::vector<std::vector<uint8_t>>& children) {
  std::vector<uint8_t> inner;
  for (const auto& child : children) {
    inner.insert(inner.end(), child.begin(), child.end());
  }
  return Attr(type | NLA_F_NESTED, inner.data(), inner.size());
}

std::vector<uint8_t> U8(uint16_t type, uint8_t value) {
  return Attr(type, &value, 1);
}
std::vector<uint8_t> Be16(uint16_t type, uint16_t value) {
  const uint16_t big = htons(value);
  return Attr(type, &big, 2);
}
std::vector<uint8_t> Be32(uint16_t type, uint32_t value) {
  const uint32_t big = htonl(value);
  return Attr(type, &big, 4);
}

// A tuple from its attributes as they go on the wire (so tests can give any
// of them a wrong size).
std::vector<uint8_t> TupleOf(uint16_t type, std::vector<uint8_t> src,
                             std::vector<uint8_t> dst, uint8_t protocol,
                             std::vector<uint8_t> sport,
                             std::vector<uint8_t> dport) {
  return Nest(type, {Nest(CTA_TUPLE_IP, {src, dst}),
                     Nest(CTA_TUPLE_PROTO,
                          {U8(CTA_PROTO_NUM, protocol), sport, dport})});
}

std::vector<uint8_t> Tuple(uint16_t type, const char* src, const char* dst,
                           uint8_t protocol, uint16_t sport, uint16_t dport) {
  uint8_t s[16], d[16];
  const bool v6 = std::strchr(src, ':') != nullptr;
  inet_pton(v6 ? AF_INET6 : AF_INET, src, s);
  inet_pton(v6 ? AF_INET6 : AF_INET, dst, d);
  const size_t n = v6 ? 16 : 4;
  return TupleOf(type, Attr(v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, s, n),
                 Attr(v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, d, n), protocol,
                 Be16(CTA_PROTO_SRC_PORT, sport),
                 Be16(CTA_PROTO_DST_PORT, dport));
}

constexpr uint16_t kNew = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint32_t kNatStatus = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED |
                                IPS_DST_NAT | IPS_SRC_NAT_DONE |
                                IPS_DST_NAT_DONE;  // 0x1ae, as recorded

// One ctnetlink entry message: nfgenmsg followed by `attributes`.
void AddEntry(NetlinkBuilder& builder,
              const std::vector<std::vector<uint8_t>>& attributes,
              uint8_t family = AF_INET, uint16_t type = kNew) {
  std::vector<uint8_t> payload(sizeof(nfgenmsg));
  payload[0] = family;
  for (const auto& attribute : attributes) {
    payload.insert(payload.end(), attribute.begin(), attribute.end());
  }
  builder.RawMessage(type, payload.data(), payload.size(), NLM_F_MULTI);
}

std::vector<std::vector<uint8_t>> TcpEntry(uint32_t status, uint8_t state,
                                           uint16_t client_port = 37406) {
  return {Tuple(CTA_TUPLE_ORIG, "10.77.1.2", "10.77.9.9", IPPROTO_TCP,
                client_port, 8080),
          Tuple(CTA_TUPLE_REPLY, "10.77.2.11", "10.77.1.2", IPPROTO_TCP, 8080,
                client_port),
          Be32(CTA_STATUS, status),
          Nest(CTA_PROTOINFO,
               {Nest(CTA_PROTOINFO_TCP, {U8(CTA_PROTOINFO_TCP_STATE, state)})}),
          Be32(CTA_TIMEOUT, 58)};
}

absl::Status Parse(const std::vector<uint8_t>& bytes,
                   std::vector<Translation>* flows, bool* done) {
  return ParseConntrackDump(bytes, flows, done);
}

TEST(ParseConntrackDump, TcpStateNames) {
  const char* names[] = {"NONE",        "SYN_SENT",  "SYN_RECV",
                         "ESTABLISHED", "FIN_WAIT",  "CLOSE_WAIT",
                         "LAST_ACK",    "TIME_WAIT", "CLOSE"};
  for (uint8_t state = 0; state < 9; ++state) {
    NetlinkBuilder builder;
    AddEntry(builder, TcpEntry(kNatStatus, state));
    builder.Done();
    std::vector<Translation> flows;
    bool done = false;
    ASSERT_TRUE(Parse(builder.Build(), &flows, &done).ok()) << names[state];
    ASSERT_EQ(flows.size(), 1u) << names[state];
    EXPECT_EQ(flows[0].state, names[state]);
    EXPECT_EQ(flows[0].expires_s, 58u);
    EXPECT_TRUE(done);
  }
  NetlinkBuilder builder;
  AddEntry(builder, TcpEntry(kNatStatus, 200));
  std::vector<Translation> flows;
  bool done = false;
  ASSERT_TRUE(Parse(builder.Build(), &flows, &done).ok());
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].state, "STATE_200");
  EXPECT_FALSE(done);  // no NLMSG_DONE yet: more buffers to come
}

TEST(ParseConntrackDump, UdpStateFromStatusBits) {
  struct Case {
    const char* name;
    uint32_t status;
    const char* state;
  };
  const Case cases[] = {
      {"unreplied", IPS_CONFIRMED | IPS_DST_NAT, "UNREPLIED"},
      {"replied", IPS_SEEN_REPLY | IPS_DST_NAT, ""},
      {"assured", IPS_SEEN_REPLY | IPS_ASSURED | IPS_DST_NAT, "ASSURED"},
  };
  for (const Case& c : cases) {
    NetlinkBuilder builder;
    AddEntry(
        builder,
        {Tuple(CTA_TUPLE_ORIG, "10.0.0.5", "10.0.0.2", IPPROTO_UDP, 514, 53),
         Tuple(CTA_TUPLE_REPLY, "10.0.0.9", "10.0.0.5", IPPROTO_UDP, 5353, 514),
         Be32(CTA_STATUS, c.status)});
    std::vector<Translation> flows;
    bool done = false;
    ASSERT_TRUE(Parse(builder.Build(), &flows, &done).ok()) << c.name;
    ASSERT_EQ(flows.size(), 1u) << c.name;
    EXPECT_EQ(flows[0].protocol, IPPROTO_UDP);
    EXPECT_EQ(flows[0].state, c.state) << c.name;
    EXPECT_EQ(flows[0].backend_ip, "10.0.0.9");
    EXPECT_EQ(flows[0].backend_port, 5353) << "the reply's source port";
    EXPECT_EQ(flows[0].expires_s, 0u) << "no CTA_TIMEOUT";
  }
}

TEST(ParseConntrackDump, Ipv6Tuples) {
  NetlinkBuilder builder;
  AddEntry(builder,
           {Tuple(CTA_TUPLE_ORIG, "fd00:77:1::2", "fd00:77:9::9", IPPROTO_TCP,
                  41000, 8080),
            Tuple(CTA_TUPLE_REPLY, "fd00:77:2::11", "fd00:77:1::2", IPPROTO_TCP,
                  8080, 41000),
            Be32(CTA_STATUS, kNatStatus)},
           AF_INET6);
  std::vector<Translation> flows;
  bool done = false;
  ASSERT_TRUE(Parse(builder.Build(), &flows, &done).ok());
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].client_ip, "fd00:77:1::2");
  EXPECT_EQ(flows[0].service_ip, "fd00:77:9::9");
  EXPECT_EQ(flows[0].backend_ip, "fd00:77:2::11");
  EXPECT_EQ(flows[0].state, "") << "no CTA_PROTOINFO";
}

TEST(ParseConntrackDump, SkipsWhatIsNotOurs) {
  NetlinkBuilder builder;
  // No destination NAT (SNAT only): skipped even without tuples.
  AddEntry(builder, {Be32(CTA_STATUS, IPS_CONFIRMED | IPS_SRC_NAT)});
  AddEntry(builder, TcpEntry(IPS_CONFIRMED | IPS_SEEN_REPLY, 3));
  // ICMP with DNAT: no ports, skipped.
  uint8_t id[2] = {0, 1};
  AddEntry(builder,
           {Nest(CTA_TUPLE_ORIG,
                 {Nest(CTA_TUPLE_IP, {Attr(CTA_IP_V4_SRC, "\x0a\0\0\1", 4),
                                      Attr(CTA_IP_V4_DST, "\x0a\0\0\2", 4)}),
                  Nest(CTA_TUPLE_PROTO, {U8(CTA_PROTO_NUM, IPPROTO_ICMP),
                                         Attr(CTA_PROTO_ICMP_ID, id, 2)})}),
            Be32(CTA_STATUS, kNatStatus)});
  // A message of another type (an expectation) is not an entry.
  AddEntry(builder, {}, AF_INET, (NFNL_SUBSYS_CTNETLINK_EXP << 8));
  AddEntry(builder, TcpEntry(kNatStatus, 3, 40000));
  builder.Done();
  std::vector<Translation> flows;
  bool done = false;
  const absl::Status status = Parse(builder.Build(), &flows, &done);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].client_port, 40000);
  EXPECT_TRUE(done);
}

TEST(ParseConntrackDump, MalformedEntriesAreInvalidAndKeepWhatCameBefore) {
  std::vector<uint8_t> cut_tuple =
      Tuple(CTA_TUPLE_ORIG, "10.0.0.5", "10.0.0.2", IPPROTO_TCP, 1, 2);
  // The nested tuple claims more bytes than its parent holds.
  nlattr inner;
  std::memcpy(&inner, cut_tuple.data() + NLA_HDRLEN, sizeof(inner));
  inner.nla_len = 200;
  std::memcpy(cut_tuple.data() + NLA_HDRLEN, &inner, sizeof(inner));
  struct Case {
    const char* name;
    std::vector<std::vector<uint8_t>> attributes;
  };
  const std::vector<uint8_t> orig =
      Tuple(CTA_TUPLE_ORIG, "10.0.0.5", "10.0.0.2", IPPROTO_TCP, 1, 2);
  const std::vector<uint8_t> reply =
      Tuple(CTA_TUPLE_REPLY, "10.0.0.9", "10.0.0.5", IPPROTO_TCP, 2, 1);
  const std::vector<Case> cases = {
      {"no status", {orig, reply}},
      {"short status", {orig, reply, Be16(CTA_STATUS, 0x20)}},
      {"long timeout",
       {orig, reply, Be32(CTA_STATUS, kNatStatus),
        Attr(CTA_TIMEOUT, "12345", 5)}},
      {"no reply tuple", {orig, Be32(CTA_STATUS, kNatStatus)}},
      {"no original tuple", {reply, Be32(CTA_STATUS, kNatStatus)}},
      {"cut nested tuple", {cut_tuple, reply, Be32(CTA_STATUS, kNatStatus)}},
      {"IPv4 address of 5 bytes",
       {TupleOf(CTA_TUPLE_ORIG, Attr(CTA_IP_V4_SRC, "\x0a\0\0\1\1", 5),
                Attr(CTA_IP_V4_DST, "\x0a\0\0\2", 4), IPPROTO_TCP,
                Be16(CTA_PROTO_SRC_PORT, 1), Be16(CTA_PROTO_DST_PORT, 2)),
        reply, Be32(CTA_STATUS, kNatStatus)}},
      {"port of 4 bytes",
       {TupleOf(CTA_TUPLE_ORIG, Attr(CTA_IP_V4_SRC, "\x0a\0\0\1", 4),
                Attr(CTA_IP_V4_DST, "\x0a\0\0\2", 4), IPPROTO_TCP,
                Be32(CTA_PROTO_SRC_PORT, 1), Be16(CTA_PROTO_DST_PORT, 2)),
        reply, Be32(CTA_STATUS, kNatStatus)}},
      {"tcp state of 2 bytes",
       {orig, reply, Be32(CTA_STATUS, kNatStatus),
        Nest(CTA_PROTOINFO,
             {Nest(CTA_PROTOINFO_TCP, {Be16(CTA_PROTOINFO_TCP_STATE, 3)})})}},
  };
  for (const Case& c : cases) {
    NetlinkBuilder builder;
    AddEntry(builder, TcpEntry(kNatStatus, 3));
    AddEntry(builder, c.attributes);
    AddEntry(builder, TcpEntry(kNatStatus, 3, 41000));
    builder.Done();
    std::vector<Translation> flows;
    bool done = false;
    const absl::Status status = Parse(builder.Build(), &flows, &done);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << c.name << ": " << status;
    ASSERT_EQ(flows.size(), 1u) << c.name;
    EXPECT_EQ(flows[0].client_port, 37406) << c.name;
    EXPECT_FALSE(done) << c.name;
  }
}

TEST(ParseConntrackDump, FramingErrors) {
  {
    // nfgenmsg does not fit.
    NetlinkBuilder builder;
    builder.RawMessage(kNew, "\x02", 1);
    std::vector<Translation> flows;
    bool done = false;
    EXPECT_TRUE(absl::IsInvalidArgument(Parse(builder.Build(), &flows, &done)));
  }
  {
    // A header claiming more than the buffer holds.
    NetlinkBuilder builder;
    AddEntry(builder, TcpEntry(kNatStatus, 3));
    AddEntry(builder, TcpEntry(kNatStatus, 3, 41000));
    builder.OverrideLength(4096);
    std::vector<Translation> flows;
    bool done = false;
    EXPECT_TRUE(absl::IsInvalidArgument(Parse(builder.Build(), &flows, &done)));
    EXPECT_EQ(flows.size(), 1u);
  }
}

TEST(ParseConntrackDump, KernelErrorsMidDump) {
  NetlinkBuilder builder;
  AddEntry(builder, TcpEntry(kNatStatus, 3));
  builder.Error(-ENOBUFS);
  std::vector<Translation> flows;
  bool done = false;
  const absl::Status status = Parse(builder.Build(), &flows, &done);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(absl::IsInvalidArgument(status)) << status;
  EXPECT_EQ(flows.size(), 1u);

  NetlinkBuilder eperm;
  eperm.Error(-EPERM);
  flows.clear();
  EXPECT_TRUE(absl::IsPermissionDenied(Parse(eperm.Build(), &flows, &done)));
}

TEST(BuildConntrackDumpRequest, AsksForEveryFamilyWithDestinationNat) {
  const std::vector<uint8_t> request = BuildConntrackDumpRequest(7);
  ASSERT_EQ(request.size(), NLMSG_LENGTH(sizeof(nfgenmsg) + 2 * 8));
  nlmsghdr header;
  std::memcpy(&header, request.data(), sizeof(header));
  EXPECT_EQ(header.nlmsg_len, request.size());
  EXPECT_EQ(header.nlmsg_type, 0x0101);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(header.nlmsg_seq, 7u);
  EXPECT_EQ(request[NLMSG_HDRLEN], AF_UNSPEC);
  std::vector<std::pair<uint16_t, uint32_t>> attributes;
  EXPECT_TRUE(WalkAttributes(
      absl::MakeConstSpan(request).subspan(NLMSG_HDRLEN + sizeof(nfgenmsg)),
      [&](uint16_t type, absl::Span<const uint8_t> payload) {
        ASSERT_EQ(payload.size(), 4u);
        uint32_t value;
        std::memcpy(&value, payload.data(), 4);
        attributes.emplace_back(type, ntohl(value));
      }));
  EXPECT_THAT(attributes,
              ElementsAre(std::make_pair(uint16_t{CTA_STATUS}, 0x20u),
                          std::make_pair(uint16_t{CTA_STATUS_MASK}, 0x20u)));
}

// ---------------------------------------------------------------------------
// /proc/net/nf_conntrack

TEST(ParseProcConntrack, RecordedFile) {
  size_t malformed = 99;
  const std::vector<Translation> flows =
      ParseProcConntrack(kProcConntrack, &malformed);
  EXPECT_EQ(malformed, 0u);
  ASSERT_EQ(flows.size(), 4u);
  const Translation* v6 = ByService(flows, "fd00:77:9::9", 8080);
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->client_ip, "fd00:77:1::2");  // printed uncompressed
  EXPECT_EQ(v6->backend_ip, "fd00:77:2::11");
  const Translation* close_wait = ByService(flows, "10.77.9.9", 8081);
  ASSERT_NE(close_wait, nullptr);
  EXPECT_EQ(close_wait->state, "CLOSE_WAIT");
  EXPECT_EQ(close_wait->expires_s, 59u);
  EXPECT_EQ(close_wait->translator, Translator::kConntrack);
}

TEST(ParseProcConntrack, LineShapes) {
  struct Case {
    const char* name;
    const char* line;
    bool kept;
    const char* state;
    uint16_t backend_port;
  };
  const Case cases[] = {
      {"offloaded: no timeout",
       "ipv4     2 tcp      6 ESTABLISHED src=10.0.0.5 dst=10.0.0.2 "
       "sport=4000 dport=80 src=10.0.0.9 dst=10.0.0.5 sport=8080 dport=4000 "
       "[OFFLOAD] mark=0 zone=0 use=2",
       true, "ESTABLISHED", 8080},
      {"accounting and zones",
       "ipv4     2 tcp      6 30 TIME_WAIT src=10.0.0.5 dst=10.0.0.2 "
       "sport=4000 dport=80 zone-orig=3 packets=5 bytes=300 src=10.0.0.9 "
       "dst=10.0.0.5 sport=80 dport=4000 packets=4 bytes=200 [ASSURED] "
       "mark=0 secctx=system_u:object_r:unlabeled_t:s0 zone=3 "
       "delta-time=12 use=1",
       true, "TIME_WAIT", 80},
      {"udp assured",
       "ipv4     2 udp      17 170 src=10.0.0.5 dst=10.0.0.2 sport=514 "
       "dport=53 src=10.0.0.9 dst=10.0.0.5 sport=53 dport=514 [ASSURED] "
       "mark=0 use=1",
       true, "ASSURED", 53},
      {"udp replied",
       "ipv4     2 udp      17 20 src=10.0.0.5 dst=10.0.0.2 sport=514 "
       "dport=53 src=10.0.0.9 dst=10.0.0.5 sport=53 dport=514 mark=0 use=1",
       true, "", 53},
      {"port redirect only",
       "ipv4     2 tcp      6 50 ESTABLISHED src=10.0.0.5 dst=10.0.0.2 "
       "sport=4000 dport=80 src=10.0.0.2 dst=10.0.0.5 sport=8080 dport=4000 "
       "[ASSURED] mark=0 use=1",
       true, "ESTABLISHED", 8080},
      {"no NAT",
       "ipv4     2 tcp      6 50 ESTABLISHED src=10.0.0.5 dst=10.0.0.2 "
       "sport=4000 dport=80 src=10.0.0.2 dst=10.0.0.5 sport=80 dport=4000 "
       "[ASSURED] mark=0 use=1",
       false, "", 0},
      {"icmp",
       "ipv4     2 icmp     1 29 src=10.0.0.5 dst=10.0.0.9 type=8 code=0 "
       "id=7 src=10.0.0.9 dst=10.0.0.5 type=0 code=0 id=7 mark=0 use=1",
       false, "", 0},
  };
  for (const Case& c : cases) {
    size_t malformed = 9;
    const std::vector<Translation> flows =
        ParseProcConntrack(c.line, &malformed);
    EXPECT_EQ(malformed, 0u) << c.name;
    ASSERT_EQ(flows.size(), c.kept ? 1u : 0u) << c.name;
    if (!c.kept) continue;
    EXPECT_EQ(flows[0].state, c.state) << c.name;
    EXPECT_EQ(flows[0].backend_port, c.backend_port) << c.name;
    EXPECT_EQ(flows[0].client_ip, "10.0.0.5") << c.name;
  }
}

TEST(ParseProcConntrack, MalformedLinesAreSkippedAndCounted) {
  const std::string good =
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406 [ASSURED] mark=0 zone=0 use=2\n";
  const char* lines[] = {
      "ipv5     2 tcp      6 57 CLOSE_WAIT src=10.0.0.1",
      "ipv4 2 tcp",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 dport=8080",  // no reply tuple
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406 src=1.2.3.4",  // a third tuple
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 dport=80800 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.256 dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=fd00::1 dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",  // an IPv6 address on an ipv4 line
      "ipv4     2 tcp      6 57 src=10.77.1.2 dst=10.77.9.9 sport=37406 "
      "dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 dport=37406",
      "ipv4     2 tcp      6 57 close_wait src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 src=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src=10.77.1.2 dst=10.77.9.9 "
      "sport=37406 sport=1 dport=8080 src=10.77.2.11 dst=10.77.1.2 "
      "sport=8080 dport=37406",
      "ipv4     2 tcp      6 57 CLOSE_WAIT src= dst=10.77.9.9 "
      "sport=37406 dport=8080 src=10.77.2.11 dst=10.77.1.2 sport=8080 "
      "dport=37406",
  };
  for (const char* line : lines) {
    size_t malformed = 0;
    const std::vector<Translation> flows =
        ParseProcConntrack(absl::StrCat(good, line, "\n", good), &malformed);
    EXPECT_EQ(flows.size(), 2u) << line;
    EXPECT_EQ(malformed, 1u) << line;
  }
}

// ---------------------------------------------------------------------------
// ReadTranslationsHere over a made-up /proc (the real one is the
// integration test's): which files it reads, the settings, the bounds.

class FakeProc {
 public:
  explicit FakeProc(const std::string& name)
      : root_(::testing::TempDir() + "/" + name) {
    std::string path = root_;
    for (const char* part : {"", "/thread-self", "/thread-self/net", "/sys",
                             "/sys/net", "/sys/net/ipv4", "/sys/net/ipv4/vs"}) {
      mkdir((root_ + part).c_str(), 0755);
    }
  }
  void Write(const std::string& relative, const std::string& content) {
    std::ofstream(root_ + "/" + relative, std::ios::trunc) << content;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TranslationReadOptions ProcOnly() {
  TranslationReadOptions options;
  options.use_ctnetlink = false;
  return options;
}

TEST(ReadTranslationsHere, ProcFilesAndIpvsSettings) {
  FakeProc proc("gp-xlate-proc");
  proc.Write("thread-self/net/nf_conntrack", kProcConntrack);
  proc.Write("thread-self/net/ip_vs_conn", kIpVsConn);
  proc.Write("sys/net/ipv4/vs/expire_nodest_conn", "0\n");
  proc.Write("sys/net/ipv4/vs/expire_quiescent_template", "1\n");
  proc.Write("sys/net/ipv4/vs/conn_reuse_mode", "garbage\n");
  const NamespaceTranslations read =
      ReadTranslationsHere(proc.root(), ProcOnly());
  EXPECT_EQ(read.error, "");
  ASSERT_EQ(read.flows.size(), 4u + 16u);
  EXPECT_EQ(read.flows[0].translator, Translator::kConntrack);
  EXPECT_EQ(read.flows.back().translator, Translator::kIpvs);
  ASSERT_TRUE(read.ipvs.has_value());
  EXPECT_EQ(read.ipvs->expire_nodest_conn, 0);
  EXPECT_EQ(read.ipvs->expire_quiescent_template, 1);
  EXPECT_EQ(read.ipvs->conn_reuse_mode, -1);
}

TEST(ReadTranslationsHere, NoTablesIsNoError) {
  FakeProc proc("gp-xlate-empty");
  const NamespaceTranslations read =
      ReadTranslationsHere(proc.root(), ProcOnly());
  EXPECT_EQ(read.error, "");
  EXPECT_THAT(read.flows, IsEmpty());
  EXPECT_FALSE(read.ipvs.has_value());
}

TEST(ReadTranslationsHere, CapsSayWhatWasCut) {
  FakeProc proc("gp-xlate-caps");
  proc.Write("thread-self/net/nf_conntrack", kProcConntrack);
  proc.Write("thread-self/net/ip_vs_conn", kIpVsConn);
  TranslationReadOptions options = ProcOnly();
  options.max_flows = 3;
  NamespaceTranslations read = ReadTranslationsHere(proc.root(), options);
  EXPECT_EQ(read.flows.size(), 6u);
  EXPECT_THAT(read.error, ::testing::HasSubstr("more than 3"));
  EXPECT_THAT(read.error, ::testing::HasSubstr("ip_vs_conn"));
  ASSERT_TRUE(read.ipvs.has_value());
  EXPECT_EQ(read.ipvs->expire_nodest_conn, -1);

  // A byte budget that ends mid-table keeps the whole lines before it.
  options = ProcOnly();
  options.max_proc_bytes = kProcConntrack.find('\n') + 10;
  proc.Write("thread-self/net/ip_vs_conn", "");
  read = ReadTranslationsHere(proc.root(), options);
  EXPECT_THAT(read.error, ::testing::HasSubstr("nf_conntrack: cut at"));
  EXPECT_LE(read.flows.size(), 1u);
}

}  // namespace
}  // namespace ghostpeer::agent
