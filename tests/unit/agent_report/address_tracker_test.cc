#include "agent/report/address_tracker.h"

#include "common/time_util.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

v1::NamespaceInfo Namespace(uint64_t inode, std::vector<std::string> addresses,
                            std::string container_id = "") {
  v1::NamespaceInfo ns;
  ns.set_inode(inode);
  ns.set_status(v1::NAMESPACE_STATUS_OK);
  ns.set_container_id(container_id);
  for (const std::string& address : addresses) {
    v1::InterfaceAddress* a = ns.add_addresses();
    a->set_address(address);
    a->set_prefix_len(24);
    a->set_interface("eth0");
  }
  return ns;
}

v1::NodeSnapshot Snapshot(int64_t unix_seconds,
                          std::vector<v1::NamespaceInfo> namespaces) {
  v1::NodeSnapshot snapshot;
  snapshot.set_node("node-1");
  *snapshot.mutable_taken_at() = ToProto(absl::FromUnixSeconds(unix_seconds));
  for (auto& ns : namespaces) *snapshot.add_namespaces() = std::move(ns);
  return snapshot;
}

TEST(AddressTrackerTest, FirstObservationAttachesEverything) {
  AddressTracker tracker;
  auto events = tracker.Observe(Snapshot(
      100, {Namespace(1, {"10.99.0.2"}), Namespace(2, {"10.99.0.3"})}));
  ASSERT_EQ(events.size(), 2u);
  for (const auto& event : events) {
    EXPECT_EQ(event.type(), v1::ATTACH);
    EXPECT_EQ(event.source(), v1::OBSERVATION);
    EXPECT_EQ(event.seq(), 0u) << "the journal numbers events";
    EXPECT_EQ(FromProto(event.time()), absl::FromUnixSeconds(100));
    EXPECT_EQ(event.owner().node(), "node-1");
    EXPECT_EQ(event.owner().kind(), v1::OWNER_KIND_NETNS);
  }
  EXPECT_EQ(events[0].owner().address(), "10.99.0.2");
  EXPECT_EQ(events[0].owner().netns(), "inode:1");
  EXPECT_EQ(events[0].owner().network(), "eth0");
}

// Docker's word (stamped by the snapshotter) when it has one; an address
// Docker does not explain is node-local. When Docker answers later, the
// holding is said again with its scope.
TEST(AddressTrackerTest, ScopeIsDockersWordElseNodeLocal) {
  AddressTracker tracker;
  v1::NamespaceInfo task = Namespace(1, {"10.0.1.6", "172.18.0.3"}, "c1");
  v1::NamespaceInfo host = Namespace(2, {"192.168.1.10"});
  host.set_is_host(true);
  auto events = tracker.Observe(Snapshot(100, {task, host}));
  ASSERT_EQ(events.size(), 3u);
  for (const auto& event : events) {
    EXPECT_EQ(event.owner().scope(), v1::ADDRESS_SCOPE_NODE)
        << event.owner().address();
  }

  task.mutable_addresses(0)->set_scope(v1::ADDRESS_SCOPE_CLUSTER);
  task.mutable_addresses(1)->set_scope(v1::ADDRESS_SCOPE_NODE);
  events = tracker.Observe(Snapshot(105, {task, host}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::ATTACH);
  EXPECT_EQ(events[0].owner().address(), "10.0.1.6");
  EXPECT_EQ(events[0].owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_TRUE(tracker.Observe(Snapshot(110, {task, host})).empty());
  EXPECT_EQ(tracker.Inventory(absl::FromUnixSeconds(110)).inventory(0).scope(),
            v1::ADDRESS_SCOPE_CLUSTER);  // 10.0.1.6 sorts first
}

TEST(AddressTrackerTest, UnchangedObservationIsSilent) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(100, {Namespace(1, {"10.99.0.2"})}));
  EXPECT_TRUE(
      tracker.Observe(Snapshot(105, {Namespace(1, {"10.99.0.2"})})).empty());
}

TEST(AddressTrackerTest, VanishedNamespaceDetachesAtSnapshotTime) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(
      100, {Namespace(1, {"10.99.0.2"}), Namespace(2, {"10.99.0.3"})}));
  auto events = tracker.Observe(Snapshot(105, {Namespace(2, {"10.99.0.3"})}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::DETACH);
  EXPECT_EQ(events[0].owner().address(), "10.99.0.2");
  EXPECT_EQ(FromProto(events[0].time()), absl::FromUnixSeconds(105));
}

TEST(AddressTrackerTest, AddressMovingToAnotherOwnerDetachesBeforeAttach) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(100, {Namespace(1, {"10.99.0.2"})}));
  auto events = tracker.Observe(Snapshot(105, {Namespace(7, {"10.99.0.2"})}));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type(), v1::DETACH);
  EXPECT_EQ(events[0].owner().netns_inode(), 1u);
  EXPECT_EQ(events[1].type(), v1::ATTACH);
  EXPECT_EQ(events[1].owner().netns_inode(), 7u);
}

TEST(AddressTrackerTest, FailedNamespaceKeepsItsAddresses) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(100, {Namespace(1, {"10.99.0.2"})}));
  v1::NamespaceInfo failed = Namespace(1, {});
  failed.set_status(v1::NAMESPACE_STATUS_FAILED);
  EXPECT_TRUE(tracker.Observe(Snapshot(105, {failed})).empty());
  EXPECT_EQ(tracker.address_count(), 1u);
}

TEST(AddressTrackerTest, IncompleteAddressListKeepsWhatItLacksAndAddsNew) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(
      100, {Namespace(1, {"10.99.0.2"}), Namespace(2, {"10.99.0.3"})}));
  // Namespace 1's read was cut short: 10.99.0.2 is missing from it but did
  // not leave; the new 10.99.0.4 it did see is news. Namespace 2 was read
  // whole and lost its address.
  v1::NamespaceInfo partial = Namespace(1, {"10.99.0.4"});
  partial.set_addresses_incomplete(true);
  std::vector<v1::AddressEvent> events =
      tracker.Observe(Snapshot(105, {partial, Namespace(2, {})}));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type(), v1::DETACH);
  EXPECT_EQ(events[0].owner().address(), "10.99.0.3");
  EXPECT_EQ(events[1].type(), v1::ATTACH);
  EXPECT_EQ(events[1].owner().address(), "10.99.0.4");
  EXPECT_EQ(tracker.address_count(), 2u);
  // Read whole again: now its absence is evidence.
  events = tracker.Observe(Snapshot(110, {Namespace(1, {"10.99.0.4"})}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::DETACH);
  EXPECT_EQ(events[0].owner().address(), "10.99.0.2");
}

TEST(AddressTrackerTest, OwnerKinds) {
  v1::NamespaceInfo container =
      Namespace(3, {"10.0.1.6"}, std::string(64, 'a'));
  container.set_container_name("mongo.1.x");
  container.set_service("mongo");
  v1::NamespaceInfo host = Namespace(4, {"192.0.2.1"});
  host.set_is_host(true);
  v1::NamespaceInfo named = Namespace(5, {"10.99.0.3"});
  named.set_netns_name("gpx-cli");
  const v1::InterfaceAddress& a = container.addresses(0);
  EXPECT_EQ(OwnerOf("n", container, a).kind(), v1::OWNER_KIND_CONTAINER);
  EXPECT_EQ(OwnerOf("n", container, a).service(), "mongo");
  EXPECT_EQ(OwnerOf("n", host, host.addresses(0)).kind(), v1::OWNER_KIND_HOST);
  EXPECT_EQ(OwnerOf("n", named, named.addresses(0)).netns(), "gpx-cli");
}

TEST(AddressTrackerTest, InventoryListsWhatIsHeldSorted) {
  AddressTracker tracker;
  (void)tracker.Observe(Snapshot(100, {Namespace(2, {"10.99.0.3", "fd00::3"}),
                                       Namespace(1, {"10.99.0.2"})}));
  v1::AddressEvent inventory = tracker.Inventory(absl::FromUnixSeconds(200));
  EXPECT_EQ(inventory.type(), v1::INVENTORY);
  ASSERT_EQ(inventory.inventory_size(), 3);
  EXPECT_EQ(inventory.inventory(0).address(), "10.99.0.2");
  EXPECT_EQ(inventory.inventory(1).address(), "10.99.0.3");
  EXPECT_EQ(inventory.inventory(2).address(), "fd00::3");
  EXPECT_EQ(FromProto(inventory.time()), absl::FromUnixSeconds(200));
}

}  // namespace
}  // namespace ghostpeer::agent
