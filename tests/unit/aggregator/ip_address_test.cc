#include "aggregator/ip_address.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer::aggregator {
namespace {

struct NormalizeCase {
  std::string name;
  std::string input;
  std::string want;  // empty: InvalidArgument
};

TEST(NormalizeIpAddressTest, Table) {
  const std::vector<NormalizeCase> cases = {
      {"canonical ipv4", "10.0.1.6", "10.0.1.6"},
      {"ipv4 edges", "255.255.255.255", "255.255.255.255"},
      {"ipv4 zero", "0.0.0.0", "0.0.0.0"},
      {"ipv6 compressed", "fd00:0:0:0:0:0:0:6", "fd00::6"},
      {"ipv6 upper case", "FD00::6", "fd00::6"},
      {"ipv6 loopback", "::1", "::1"},
      {"v4-mapped becomes ipv4", "::ffff:10.0.1.6", "10.0.1.6"},
      {"v4-mapped hex form", "::ffff:a00:106", "10.0.1.6"},
      {"empty", "", ""},
      {"octet out of range", "10.0.0.300", ""},
      {"leading zero", "10.0.01.6", ""},
      {"prefix", "10.0.0.0/24", ""},
      {"zone", "fe80::1%eth0", ""},
      {"spaces", " 10.0.1.6", ""},
      {"hostname", "gpx-srv", ""},
      {"three octets", "10.0.1", ""},
      {"five octets", "10.0.1.6.7", ""},
      {"trailing dot", "10.0.1.6.", ""},
      // Found by ingest_fuzzer: a run of digits once overflowed the octet.
      {"fifteen digits", "192000000000000", ""},
      {"long first octet", "19200000000.0.0", ""},
      {"four-digit octet", "1.2.3.0255", ""},
  };
  for (const NormalizeCase& c : cases) {
    absl::StatusOr<std::string> got = NormalizeIpAddress(c.input);
    if (c.want.empty()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << c.name;
      EXPECT_FALSE(IsCanonicalIpAddress(c.input)) << c.name;
    } else {
      ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
      EXPECT_EQ(*got, c.want) << c.name;
      EXPECT_EQ(IsCanonicalIpAddress(c.input), c.input == c.want) << c.name;
    }
  }
}

TEST(IpAddressClassTest, LoopbackAndUnspecified) {
  EXPECT_TRUE(IsLoopbackIpAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackIpAddress("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackIpAddress("::1"));
  EXPECT_FALSE(IsLoopbackIpAddress("10.0.1.6"));
  EXPECT_FALSE(IsLoopbackIpAddress("::2"));
  EXPECT_TRUE(IsUnspecifiedIpAddress("0.0.0.0"));
  EXPECT_TRUE(IsUnspecifiedIpAddress("::"));
  EXPECT_FALSE(IsUnspecifiedIpAddress("10.0.0.0"));
}

}  // namespace
}  // namespace ghostpeer::aggregator
