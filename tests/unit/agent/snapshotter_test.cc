#include "agent/snapshotter.h"

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

}  // namespace
}  // namespace ghostpeer::agent
