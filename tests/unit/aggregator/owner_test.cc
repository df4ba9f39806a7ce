#include "aggregator/owner.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Container;

struct SameOwnerCase {
  std::string name;
  void (*mutate)(v1::AddressOwner*);
  bool same;
};

TEST(SameOwnerTest, IdentityIsNodeKindContainerNetns) {
  const std::vector<SameOwnerCase> cases = {
      {"identical", [](v1::AddressOwner*) {}, true},
      {"names fill in later",
       [](v1::AddressOwner* o) {
         o->set_service("mongo");
         o->set_container_name("mongo.1.x");
         o->set_task("mongo.1");
       },
       true},
      {"another address, same owner",
       [](v1::AddressOwner* o) { o->set_address("10.0.1.99"); }, true},
      {"another network", [](v1::AddressOwner* o) { o->set_network("eth1"); },
       true},
      {"other node", [](v1::AddressOwner* o) { o->set_node("node-9"); }, false},
      {"other kind",
       [](v1::AddressOwner* o) { o->set_kind(v1::OWNER_KIND_SWARM_TASK); },
       false},
      {"other container",
       [](v1::AddressOwner* o) { o->set_container_id("ffff"); }, false},
      {"other netns inode", [](v1::AddressOwner* o) { o->set_netns_inode(1); },
       false},
      {"other netns name", [](v1::AddressOwner* o) { o->set_netns("gpx-x"); },
       false},
  };
  const v1::AddressOwner base = Container("10.0.1.6", "gpx-srv.1");
  for (const SameOwnerCase& c : cases) {
    v1::AddressOwner other = base;
    c.mutate(&other);
    EXPECT_EQ(SameOwner(base, other), c.same) << c.name;
    EXPECT_EQ(OwnerIdentityKey(base) == OwnerIdentityKey(other), c.same)
        << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator
