#include "agent/rtnetlink.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/unit/agent/netlink_builder.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

using test::NetlinkBuilder;

std::vector<uint8_t> ReadGolden(const char* name) {
  return test::ReadTestdata(std::string("agent/") + name);
}

ifaddrmsg AddressHeader(int family, int prefix, int index) {
  ifaddrmsg header = {};
  header.ifa_family = family;
  header.ifa_prefixlen = prefix;
  header.ifa_index = index;
  return header;
}

ifinfomsg LinkHeader(int index, unsigned flags) {
  ifinfomsg header = {};
  header.ifi_index = index;
  header.ifi_flags = flags;
  return header;
}

TEST(Rtnetlink, RequestsAreDumps) {
  for (const auto& [name, request, type] :
       {std::make_tuple("addr", BuildGetAddressRequest(4), RTM_GETADDR),
        std::make_tuple("link", BuildGetLinkRequest(4), RTM_GETLINK)}) {
    nlmsghdr header;
    ASSERT_GE(request.size(), sizeof(header)) << name;
    std::memcpy(&header, request.data(), sizeof(header));
    EXPECT_EQ(header.nlmsg_type, type) << name;
    EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP) << name;
    EXPECT_EQ(header.nlmsg_seq, 4u) << name;
    EXPECT_EQ(header.nlmsg_len, request.size()) << name;
  }
}

TEST(Rtnetlink, ObservableAddressesExcludeLoopbackAndLinkLocal) {
  uint8_t v4[4], peer[4], v6[16], link_local[16], lo6[16], lo4[4], other[4];
  inet_pton(AF_INET, "10.99.0.2", v4);
  inet_pton(AF_INET, "10.99.0.99", peer);
  inet_pton(AF_INET6, "fd00:99::2", v6);
  inet_pton(AF_INET6, "fe80::1c2b:3ff:fe4d:5e6f", link_local);
  inet_pton(AF_INET6, "::1", lo6);
  inet_pton(AF_INET, "127.0.0.1", lo4);
  inet_pton(AF_INET, "127.0.0.11", other);
  const std::vector<uint8_t> links =
      NetlinkBuilder()
          .Message(RTM_NEWLINK, LinkHeader(1, IFF_LOOPBACK | IFF_UP))
          .Attribute(IFLA_IFNAME, "lo", 3)
          .Message(RTM_NEWLINK, LinkHeader(7, IFF_UP))
          .Attribute(IFLA_IFNAME, "eth0", 5)
          .Done()
          .Build();
  const std::vector<uint8_t> addresses =
      NetlinkBuilder()
          // Point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer's.
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 24, 7))
          .Attribute(IFA_ADDRESS, peer, 4)
          .Attribute(IFA_LOCAL, v4, 4)
          .Attribute(IFA_LABEL, "eth0", 5)
          .Message(RTM_NEWADDR, AddressHeader(AF_INET6, 64, 7))
          .Attribute(IFA_ADDRESS, v6, 16)
          .Message(RTM_NEWADDR, AddressHeader(AF_INET6, 64, 7))
          .Attribute(IFA_ADDRESS, link_local, 16)
          .Message(RTM_NEWADDR, AddressHeader(AF_INET6, 128, 1))
          .Attribute(IFA_ADDRESS, lo6, 16)
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 8, 1))
          .Attribute(IFA_LOCAL, lo4, 4)
          // 127.0.0.11 on a non-loopback interface (Docker's DNS) is still
          // loopback.
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 32, 7))
          .Attribute(IFA_LOCAL, other, 4)
          // Unknown interface index: named from the label, then "if<n>".
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 16, 9))
          .Attribute(IFA_LOCAL, peer, 4)
          .Done()
          .Build();
  RtnetlinkDump dump;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(links, {}, &dump).ok());
  dump.done = false;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(addresses, {}, &dump).ok());
  EXPECT_TRUE(dump.done);
  EXPECT_EQ(dump.links.size(), 2u);
  EXPECT_EQ(dump.addresses.size(), 7u);
  const std::vector<v1::InterfaceAddress> observed = ObservableAddresses(dump);
  ASSERT_EQ(observed.size(), 3u);
  EXPECT_EQ(observed[0].interface(), "eth0");
  EXPECT_EQ(observed[0].address(), "10.99.0.2");
  EXPECT_EQ(observed[0].prefix_len(), 24u);
  EXPECT_EQ(observed[1].interface(), "eth0");
  EXPECT_EQ(observed[1].address(), "fd00:99::2");
  EXPECT_EQ(observed[1].prefix_len(), 64u);
  EXPECT_EQ(observed[2].interface(), "if9");
  EXPECT_EQ(observed[2].address(), "10.99.0.99");
}

// Interface names are any bytes but '/', ':' and blanks; they are reported
// in proto strings, which must be UTF-8.
TEST(Rtnetlink, InterfaceNamesAndLabelsAreMadeUtf8) {
  uint8_t v4[4];
  inet_pton(AF_INET, "10.99.0.2", v4);
  const std::vector<uint8_t> messages =
      NetlinkBuilder()
          .Message(RTM_NEWLINK, LinkHeader(7, IFF_UP))
          .Attribute(IFLA_IFNAME, "eth\xff\\", 6)
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 24, 7))
          .Attribute(IFA_LOCAL, v4, 4)
          .Attribute(IFA_LABEL, "lbl\xc3", 5)
          .Done()
          .Build();
  RtnetlinkDump dump;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(messages, {}, &dump).ok());
  ASSERT_EQ(dump.links.size(), 1u);
  EXPECT_EQ(dump.links[0].name, "eth\\xff\\\\");
  ASSERT_EQ(dump.addresses.size(), 1u);
  EXPECT_EQ(dump.addresses[0].label, "lbl\\xc3");
  const std::vector<v1::InterfaceAddress> observed = ObservableAddresses(dump);
  ASSERT_EQ(observed.size(), 1u);
  EXPECT_EQ(observed[0].interface(), "eth\\xff\\\\");
}

TEST(Rtnetlink, MalformedMessagesAreSkipped) {
  const uint8_t tiny[4] = {};
  uint8_t v4[4];
  inet_pton(AF_INET, "10.0.0.1", v4);
  const std::vector<uint8_t> buffer =
      NetlinkBuilder()
          .RawMessage(RTM_NEWADDR, tiny, sizeof(tiny))
          .RawMessage(RTM_NEWLINK, tiny, sizeof(tiny))
          // An address attribute too short for its family.
          .Message(RTM_NEWADDR, AddressHeader(AF_INET6, 64, 2))
          .Attribute(IFA_ADDRESS, v4, 4)
          .Message(RTM_NEWROUTE, AddressHeader(AF_INET, 24, 2))
          .Message(RTM_NEWADDR, AddressHeader(AF_INET, 24, 2))
          .Attribute(IFA_LOCAL, v4, 4)
          .Done()
          .Build();
  RtnetlinkDump dump;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(buffer, {}, &dump).ok());
  EXPECT_EQ(dump.malformed, 4u);
  ASSERT_EQ(dump.addresses.size(), 1u);
  EXPECT_EQ(dump.addresses[0].address, "10.0.0.1");
}

TEST(Rtnetlink, NetlinkErrorIsReturned) {
  RtnetlinkDump dump;
  const std::vector<uint8_t> buffer = NetlinkBuilder().Error(-EACCES).Build();
  EXPECT_EQ(ParseRtnetlinkMessagesInto(buffer, {}, &dump).code(),
            absl::StatusCode::kPermissionDenied);
}

// Found by rtnetlink_fuzzer (tests/fuzz/): addresses, then an NLMSG_ERROR
// carrying INT32_MIN, whose negation was undefined behaviour.
TEST(Rtnetlink, InputFoundByTheFuzzerIsDataLoss) {
  const std::vector<uint8_t> buffer =
      test::ReadTestdata("fuzz/rtnetlink/nlmsg_error_int32_min.nlbin");
  ASSERT_FALSE(buffer.empty()) << "missing input";
  RtnetlinkDump dump;
  EXPECT_EQ(ParseRtnetlinkMessagesInto(buffer, {}, &dump).code(),
            absl::StatusCode::kDataLoss);
}

// Recorded by tests/support/record_netlink_golden: lo, and a veth pair gp0 /
// gp1 with 10.1.2.3/24 and fd00:1::3/64 on gp0.
TEST(RtnetlinkGolden, RecordedLinksAndAddresses) {
  const std::vector<uint8_t> links = ReadGolden("links.nlbin");
  const std::vector<uint8_t> addresses = ReadGolden("addresses.nlbin");
  ASSERT_FALSE(links.empty());
  ASSERT_FALSE(addresses.empty());
  RtnetlinkDump dump;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(links, {}, &dump).ok());
  EXPECT_TRUE(dump.done);
  dump.done = false;
  ASSERT_TRUE(ParseRtnetlinkMessagesInto(addresses, {}, &dump).ok());
  EXPECT_TRUE(dump.done);
  EXPECT_EQ(dump.malformed, 0u);
  std::vector<std::string> names;
  for (const RawLink& link : dump.links) names.push_back(link.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "lo"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "gp0"), names.end());

  const std::vector<v1::InterfaceAddress> observed = ObservableAddresses(dump);
  ASSERT_EQ(observed.size(), 2u);
  EXPECT_EQ(observed[0].address(), "10.1.2.3");
  EXPECT_EQ(observed[0].interface(), "gp0");
  EXPECT_EQ(observed[1].address(), "fd00:1::3");
  EXPECT_EQ(observed[1].prefix_len(), 64u);
}

}  // namespace
}  // namespace ghostpeer::agent
