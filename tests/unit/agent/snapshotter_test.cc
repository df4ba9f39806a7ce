#include "agent/snapshotter.h"

#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

// A task's namespace: the overlay address is cluster-wide, the
// docker_gwbridge one node-local, as Docker says; an address Docker does
// not list keeps no scope for the tracker to decide.
TEST(DescribeNamespaceTest, StampsTheScopeDockerGivesEachAddress) {
  ContainerInfo container;
  container.name = "gpx-srv.1.abc";
  container.service = "gpx-srv";
  container.task = "gpx-srv.1.abc";
  container.address_scopes = {{"10.0.1.6", v1::ADDRESS_SCOPE_CLUSTER},
                              {"172.18.0.3", v1::ADDRESS_SCOPE_NODE}};
  v1::NamespaceInfo ns;
  for (const char* address : {"10.0.1.6", "172.18.0.3", "10.200.0.2"}) {
    ns.add_addresses()->set_address(address);
  }
  DescribeNamespace(container, &ns);
  EXPECT_EQ(ns.container_name(), "gpx-srv.1.abc");
  EXPECT_EQ(ns.service(), "gpx-srv");
  EXPECT_EQ(ns.addresses(0).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(1).scope(), v1::ADDRESS_SCOPE_NODE);
  EXPECT_EQ(ns.addresses(2).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
}

// --cluster-cidr: unexplained addresses in the ranges become cluster-wide;
// Docker's word and addresses outside stay as they were.
TEST(ScopeByPrefixesTest, OnlyUnscopedAddressesInsideTheRanges) {
  std::vector<InetPrefix> prefixes;
  for (const char* text : {"10.99.0.0/16", "fd00:99::/64"}) {
    absl::StatusOr<InetPrefix> prefix = ParseInetPrefix(text);
    ASSERT_TRUE(prefix.ok()) << prefix.status();
    prefixes.push_back(*prefix);
  }
  v1::NamespaceInfo ns;
  for (const char* address :
       {"10.99.3.4", "10.98.0.1", "fd00:99::2", "fd00:98::2", "10.99.0.9"}) {
    ns.add_addresses()->set_address(address);
  }
  ns.mutable_addresses(4)->set_scope(v1::ADDRESS_SCOPE_NODE);  // Docker said
  ScopeByPrefixes(prefixes, &ns);
  EXPECT_EQ(ns.addresses(0).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(1).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
  EXPECT_EQ(ns.addresses(2).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(3).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
  EXPECT_EQ(ns.addresses(4).scope(), v1::ADDRESS_SCOPE_NODE);
}

TEST(InetPrefixTest, ParseAndContain) {
  struct Case {
    const char* prefix;
    const char* address;
    bool inside;
  };
  const Case cases[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"172.18.0.0/17", "172.18.127.255", true},
      {"172.18.0.0/17", "172.18.128.0", false},
      {"0.0.0.0/0", "192.0.2.1", true},
      {"192.0.2.7/32", "192.0.2.7", true},
      {"fd00::/8", "fdff::1", true},
      {"fd00::/8", "10.0.0.1", false},  // another family
      {"10.0.0.0/8", "fd00::1", false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<InetPrefix> prefix = ParseInetPrefix(c.prefix);
    ASSERT_TRUE(prefix.ok()) << c.prefix;
    EXPECT_EQ(PrefixContains(*prefix, c.address), c.inside)
        << c.prefix << " " << c.address;
  }
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "fd00::/129", "x/8",
                          "10.0.0.0/-1", "10.0.0.0/8x"}) {
    EXPECT_EQ(ParseInetPrefix(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace ghostpeer::agent
