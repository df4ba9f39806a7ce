// The diff engines behind DockerWatcher: Docker's view in, ATTACH/DETACH out.
#include "agent/docker/address_book.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "common/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent::docker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1795462000);

// "ATTACH 10.0.1.6 net@+5s" — compact, comparable renderings of events.
std::string Render(const v1::AddressEvent& e) {
  return absl::StrCat(v1::AddressEventType_Name(e.type()), " ",
                      e.owner().address(), " ", e.owner().network(), "@+",
                      absl::ToInt64Seconds(FromProto(e.time()) - kT0), "s");
}

std::vector<std::string> Render(const std::vector<v1::AddressEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(Render(e));
  return out;
}

NetworkEndpoint Endpoint(std::string network, std::string ip,
                         std::string ipam = "") {
  NetworkEndpoint n;
  n.network_name = std::move(network);
  n.network_id = n.network_name + "-id";
  n.ip_address = std::move(ip);
  n.ipam_ipv4_address = std::move(ipam);
  return n;
}

ContainerDetails Container(std::string id, bool running,
                           std::vector<NetworkEndpoint> networks) {
  ContainerDetails d;
  d.id = std::move(id);
  d.name = "web";
  d.image = "img:1";
  d.running = running;
  d.pid = running ? 4242 : 0;
  d.networks = std::move(networks);
  d.labels = {{std::string(kLabelServiceName), "web"},
              {std::string(kLabelTaskName), "web.2.taskabc"},
              {std::string(kLabelNodeId), "node1"}};
  return d;
}

TEST(AddressesOfTest, Table) {
  struct Case {
    std::string name;
    ContainerDetails details;
    std::vector<std::string> want;  // network/address
  };
  NetworkEndpoint v6 = Endpoint("n6", "10.1.0.2");
  v6.global_ipv6_address = "fd00::2";
  const std::vector<Case> cases = {
      {"running bridge",
       Container("c", true, {Endpoint("br", "172.19.0.2")}),
       {"br/172.19.0.2"}},
      {"not running holds nothing",
       Container("c", false, {Endpoint("ovl", "", "10.0.1.2")}),
       {}},
      {"ipam fallback while running",
       Container("c", true, {Endpoint("ovl", "", "10.0.1.2")}),
       {"ovl/10.0.1.2"}},
      {"host network has no address",
       Container("c", true, {Endpoint("host", "")}),
       {}},
      {"dual stack", Container("c", true, {v6}), {"n6/10.1.0.2", "n6/fd00::2"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> got;
    for (const HeldAddress& a : AddressesOf(c.details)) {
      got.push_back(a.network + "/" + a.address);
    }
    EXPECT_EQ(got, c.want);
  }
}

TEST(IdentityOfTest, SwarmLabels) {
  const ContainerDetails d = Container("cid", true, {});
  const ContainerInfo info = IdentityOf(d.id, d.name, d.image, d.labels);
  EXPECT_EQ(info.service, "web");
  EXPECT_EQ(info.task, "web.2.taskabc");
  EXPECT_EQ(info.task_slot, "2");
  EXPECT_EQ(info.node_id, "node1");
  EXPECT_EQ(info.image, "img:1");
}

TEST(ContainerAddressBookTest, StartDieDestroyLifecycle) {
  ContainerAddressBook book("node-a");
  const auto running = Container("c1", true, {Endpoint("net", "172.19.0.2")});
  const auto dead = Container("c1", false, {Endpoint("net", "")});

  auto attach = book.ApplyEvent(running, 4026532625, kT0 + absl::Seconds(1));
  ASSERT_THAT(Render(attach), ElementsAre("ATTACH 172.19.0.2 net@+1s"));
  const v1::AddressOwner& owner = attach[0].owner();
  EXPECT_EQ(attach[0].source(), v1::DOCKER_EVENT);
  EXPECT_EQ(attach[0].seq(), 0u);  // the reporter assigns seqs
  EXPECT_EQ(owner.kind(), v1::OWNER_KIND_CONTAINER);
  EXPECT_EQ(owner.container_id(), "c1");
  EXPECT_EQ(owner.container_name(), "web");
  EXPECT_EQ(owner.service(), "web");
  EXPECT_EQ(owner.task(), "web.2.taskabc");
  EXPECT_EQ(owner.task_slot(), "2");
  EXPECT_EQ(owner.node(), "node-a");
  EXPECT_EQ(owner.image(), "img:1");
  EXPECT_EQ(owner.netns_inode(), 4026532625u);
  EXPECT_EQ(owner.netns(), "inode:4026532625");
  EXPECT_EQ(FromProto(owner.since()), kT0 + absl::Seconds(1));

  // The same state again (a replayed event) changes nothing.
  EXPECT_THAT(book.ApplyEvent(running, 4026532625, kT0 + absl::Seconds(2)),
              IsEmpty());
  ASSERT_TRUE(book.Lookup("c1").has_value());
  EXPECT_EQ(book.Lookup("c1")->pid, 4242);

  // die: inspect no longer shows the address; the recorded one is detached.
  auto detach = book.ApplyEvent(dead, 0, kT0 + absl::Seconds(5));
  ASSERT_THAT(Render(detach), ElementsAre("DETACH 172.19.0.2 net@+5s"));
  EXPECT_EQ(detach[0].owner().netns_inode(), 4026532625u);
  EXPECT_EQ(FromProto(detach[0].owner().until()), kT0 + absl::Seconds(5));
  EXPECT_EQ(detach[0].owner().close_reason(), v1::CLOSE_REASON_CONTAINER_DIED);
  EXPECT_EQ(book.Lookup("c1")->pid, 0);

  // destroy after die: nothing left to detach, and the container is gone.
  EXPECT_THAT(book.Remove("c1", kT0 + absl::Seconds(6)), IsEmpty());
  EXPECT_FALSE(book.Lookup("c1").has_value());
}

TEST(ContainerAddressBookTest, ConnectAndDisconnectWhileRunning) {
  ContainerAddressBook book("n");
  book.ApplyEvent(Container("c1", true, {Endpoint("a", "10.0.0.2")}), 0, kT0);
  auto connect = book.ApplyEvent(
      Container("c1", true,
                {Endpoint("a", "10.0.0.2"), Endpoint("b", "10.9.0.3")}),
      0, kT0 + absl::Seconds(1));
  EXPECT_THAT(Render(connect), ElementsAre("ATTACH 10.9.0.3 b@+1s"));
  auto disconnect =
      book.ApplyEvent(Container("c1", true, {Endpoint("b", "10.9.0.3")}), 0,
                      kT0 + absl::Seconds(2));
  EXPECT_THAT(Render(disconnect), ElementsAre("DETACH 10.0.0.2 a@+2s"));
  // The container lives on: the address left it, the container did not die.
  EXPECT_EQ(disconnect[0].owner().close_reason(), v1::CLOSE_REASON_DETACHED);
  // Removed while holding: it died with it.
  auto removed = book.Remove("c1", kT0 + absl::Seconds(4));
  ASSERT_THAT(removed, SizeIs(1));
  EXPECT_EQ(removed[0].owner().close_reason(), v1::CLOSE_REASON_CONTAINER_DIED);
  book.ApplyEvent(Container("c1", true, {Endpoint("b", "10.9.0.3")}), 0,
                  kT0 + absl::Seconds(2));
  // Same network, new address (reconnected elsewhere): left, then taken.
  auto moved =
      book.ApplyEvent(Container("c1", true, {Endpoint("b", "10.9.0.7")}), 0,
                      kT0 + absl::Seconds(3));
  EXPECT_THAT(Render(moved),
              ElementsAre("DETACH 10.9.0.3 b@+3s", "ATTACH 10.9.0.7 b@+3s"));
}

Network MakeNetwork(std::string name, std::string driver, std::string scope) {
  Network network;
  network.id = name + "-id";  // as Endpoint() names it
  network.name = std::move(name);
  network.driver = std::move(driver);
  network.scope = std::move(scope);
  return network;
}

// "10.0.1.6 NODE" for each event: the scope each address was given.
std::vector<std::string> Scopes(const std::vector<v1::AddressEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(absl::StrCat(e.owner().address(), " ",
                               v1::AddressScope_Name(e.owner().scope())
                                   .substr(sizeof("ADDRESS_SCOPE_") - 1)));
  }
  return out;
}

TEST(ScopeOfNetworkTest, Table) {
  struct Case {
    std::string name;
    std::optional<Network> network;
    v1::AddressScope want;
  };
  const std::vector<Case> cases = {
      {"overlay", MakeNetwork("ovl", "overlay", "swarm"),
       v1::ADDRESS_SCOPE_CLUSTER},
      {"ingress", MakeNetwork("ingress", "overlay", "swarm"),
       v1::ADDRESS_SCOPE_CLUSTER},
      {"global driver", MakeNetwork("kv", "overlay", "global"),
       v1::ADDRESS_SCOPE_CLUSTER},
      {"swarm-scoped macvlan", MakeNetwork("lan", "macvlan", "swarm"),
       v1::ADDRESS_SCOPE_CLUSTER},
      {"overlay without a scope", MakeNetwork("old", "overlay", ""),
       v1::ADDRESS_SCOPE_CLUSTER},
      {"bridge", MakeNetwork("bridge", "bridge", "local"),
       v1::ADDRESS_SCOPE_NODE},
      {"docker_gwbridge", MakeNetwork("docker_gwbridge", "bridge", "local"),
       v1::ADDRESS_SCOPE_NODE},
      {"local macvlan", MakeNetwork("lan", "macvlan", "local"),
       v1::ADDRESS_SCOPE_NODE},
      {"host", MakeNetwork("host", "host", "local"), v1::ADDRESS_SCOPE_NODE},
      {"unknown network", std::nullopt, v1::ADDRESS_SCOPE_NODE},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ScopeOfNetwork(c.network ? &*c.network : nullptr), c.want)
        << c.name;
  }
}

TEST(ContainerAddressBookTest, AddressesAreScopedByTheirNetwork) {
  ContainerAddressBook book("n");
  EXPECT_THAT(
      book.SetNetworks({MakeNetwork("ovl", "overlay", "swarm"),
                        MakeNetwork("docker_gwbridge", "bridge", "local")},
                       kT0),
      IsEmpty());
  const ContainerDetails task = Container(
      "c1", true,
      {Endpoint("ovl", "10.0.1.6"), Endpoint("docker_gwbridge", "172.18.0.3")});
  EXPECT_TRUE(book.KnowsNetworksOf(task));
  EXPECT_THAT(Scopes(book.ApplyEvent(task, 0, kT0)),
              UnorderedElementsAre("10.0.1.6 CLUSTER", "172.18.0.3 NODE"));
  // What the snapshotter stamps on the namespace's addresses.
  std::optional<ContainerInfo> info = book.Lookup("c1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->address_scopes, (std::map<std::string, v1::AddressScope>{
                                      {"10.0.1.6", v1::ADDRESS_SCOPE_CLUSTER},
                                      {"172.18.0.3", v1::ADDRESS_SCOPE_NODE}}));
}

TEST(ContainerAddressBookTest, NetworksLearnedLaterRescopeHeldAddresses) {
  ContainerAddressBook book("n");
  const ContainerDetails task =
      Container("c1", true, {Endpoint("ovl", "10.0.1.6")});
  EXPECT_FALSE(book.KnowsNetworksOf(task));
  // Not known yet: node-local until Docker says otherwise.
  EXPECT_THAT(Scopes(book.ApplyEvent(task, 0, kT0)),
              ElementsAre("10.0.1.6 NODE"));
  auto rescoped = book.SetNetworks({MakeNetwork("ovl", "overlay", "swarm")},
                                   kT0 + absl::Seconds(2));
  EXPECT_THAT(Render(rescoped), ElementsAre("ATTACH 10.0.1.6 ovl@+2s"));
  EXPECT_THAT(Scopes(rescoped), ElementsAre("10.0.1.6 CLUSTER"));
  EXPECT_TRUE(book.KnowsNetworksOf(task));
  EXPECT_THAT(book.SetNetworks({MakeNetwork("ovl", "overlay", "swarm")},
                               kT0 + absl::Seconds(3)),
              IsEmpty());
  // Its DETACH names the owner as last said, scope included.
  EXPECT_THAT(Scopes(book.Remove("c1", kT0 + absl::Seconds(4))),
              ElementsAre("10.0.1.6 CLUSTER"));
}

TEST(ContainerAddressBookTest, ConnectBeforeStartAttachesAtStart) {
  // Docker sends network/connect before container/start; at connect the
  // container is not running yet, so the attachment dates from start.
  ContainerAddressBook book("n");
  EXPECT_THAT(
      book.ApplyEvent(Container("c1", false, {Endpoint("a", "")}), 0, kT0),
      IsEmpty());
  EXPECT_THAT(
      Render(book.ApplyEvent(Container("c1", true, {Endpoint("a", "10.0.0.2")}),
                             0, kT0 + absl::Seconds(1))),
      ElementsAre("ATTACH 10.0.0.2 a@+1s"));
}

TEST(ContainerAddressBookTest, RemoveWithoutDieDetachesAtRemoval) {
  ContainerAddressBook book("n");
  book.ApplyEvent(Container("c1", true, {Endpoint("a", "10.0.0.2")}), 0, kT0);
  EXPECT_THAT(Render(book.Remove("c1", kT0 + absl::Seconds(9))),
              ElementsAre("DETACH 10.0.0.2 a@+9s"));
  EXPECT_THAT(book.Remove("unknown", kT0), IsEmpty());
}

TEST(ContainerAddressBookTest, ListedUsesDockerTimes) {
  ContainerAddressBook book("n");
  ContainerDetails running = Container("c1", true, {Endpoint("a", "10.0.0.2")});
  running.started_at = kT0 + absl::Seconds(2);
  const absl::Time now = kT0 + absl::Seconds(100);
  EXPECT_THAT(Render(book.ApplyListed(running, 0, now)),
              ElementsAre("ATTACH 10.0.0.2 a@+2s"));
  ContainerDetails dead = Container("c1", false, {Endpoint("a", "", "")});
  dead.started_at = running.started_at;
  dead.finished_at = kT0 + absl::Seconds(50);
  EXPECT_THAT(Render(book.ApplyListed(dead, 0, now)),
              ElementsAre("DETACH 10.0.0.2 a@+50s"));
  // No time from Docker: now.
  EXPECT_THAT(Render(book.ApplyListed(
                  Container("c2", true, {Endpoint("a", "10.0.0.3")}), 0, now)),
              ElementsAre("ATTACH 10.0.0.3 a@+100s"));
}

TEST(ContainerAddressBookTest, RetainOnlyDetachesVanishedContainers) {
  ContainerAddressBook book("n");
  book.ApplyEvent(Container("c1", true, {Endpoint("a", "10.0.0.2")}), 0, kT0);
  book.ApplyEvent(Container("c2", true, {Endpoint("a", "10.0.0.3")}), 0, kT0);
  ContainerSummary stopped;
  stopped.id = "c3";
  stopped.state = "exited";
  book.ApplySummary(stopped, kT0);
  EXPECT_THAT(Render(book.RetainOnly({"c2", "c3"}, kT0 + absl::Seconds(7))),
              ElementsAre("DETACH 10.0.0.2 a@+7s"));
  EXPECT_EQ(book.container_count(), 2u);
  EXPECT_THAT(book.Held(), SizeIs(1));
  EXPECT_TRUE(book.HoldsAddresses("c2"));
  EXPECT_FALSE(book.HoldsAddresses("c3"));
}

Task MakeTask(std::string id, std::string state, int slot, std::string address,
              absl::Time created, absl::Time status_time,
              std::string container = "ctr") {
  Task t;
  t.id = std::move(id);
  t.service_id = "svc1";
  t.node_id = "node1";
  t.slot = slot;
  t.state = std::move(state);
  t.created_at = created;
  t.status_time = status_time;
  t.container_id = std::move(container);
  TaskAttachment a;
  a.network_id = "net1";
  a.network_name = "ovl";
  a.addresses = {std::move(address)};
  t.attachments = {a};
  return t;
}

Node SwarmNodeOf(std::string id, std::string hostname, std::string address,
                 std::string state) {
  Node node;
  node.id = std::move(id);
  node.hostname = std::move(hostname);
  node.address = std::move(address);
  node.state = std::move(state);
  return node;
}

SwarmView View(std::vector<Task> tasks) {
  SwarmView view;
  view.tasks = std::move(tasks);
  Service s;
  s.id = "svc1";
  s.name = "srv";
  s.endpoint_mode = "dnsrr";
  view.services = {s};
  view.networks = {Network{"net1", "ovl", "overlay", "swarm"}};
  view.nodes = {SwarmNodeOf("node1", "host-a", "127.0.0.1", "ready")};
  return view;
}

TEST(SwarmAddressBookTest, ForceUpdateMovesTheTaskAddress) {
  SwarmAddressBook book;
  const absl::Time t = kT0;
  auto first = book.Apply(View({MakeTask("old", "running", 1, "10.0.1.6", t,
                                         t + absl::Seconds(1))}),
                          t + absl::Seconds(2));
  ASSERT_THAT(Render(first), ElementsAre("ATTACH 10.0.1.6 ovl@+1s"));
  const v1::AddressOwner& owner = first[0].owner();
  EXPECT_EQ(first[0].source(), v1::SWARM_TASKS);
  EXPECT_EQ(owner.kind(), v1::OWNER_KIND_SWARM_TASK);
  EXPECT_EQ(owner.service(), "srv");
  EXPECT_EQ(owner.task(), "srv.1.old");
  EXPECT_EQ(owner.task_slot(), "1");
  EXPECT_EQ(owner.node(), "host-a");
  EXPECT_EQ(owner.container_id(), "ctr");

  // Polling the same view again reports nothing.
  EXPECT_THAT(book.Apply(View({MakeTask("old", "running", 1, "10.0.1.6", t,
                                        t + absl::Seconds(1))}),
                         t + absl::Seconds(3)),
              IsEmpty());

  // docker service update --force: old task shut down, new one running.
  auto second = book.Apply(
      View(
          {MakeTask("old", "shutdown", 1, "10.0.1.6", t, t + absl::Seconds(20)),
           MakeTask("new", "running", 1, "10.0.1.9", t + absl::Seconds(10),
                    t + absl::Seconds(21), "ctr2")}),
      t + absl::Seconds(25));
  EXPECT_THAT(Render(second), ElementsAre("DETACH 10.0.1.6 ovl@+20s",
                                          "ATTACH 10.0.1.9 ovl@+21s"));
  // The ended task stays in the retained history: reported once only.
  EXPECT_THAT(book.Apply(View({MakeTask("old", "shutdown", 1, "10.0.1.6", t,
                                        t + absl::Seconds(20)),
                               MakeTask("new", "running", 1, "10.0.1.9",
                                        t + absl::Seconds(10),
                                        t + absl::Seconds(21), "ctr2")}),
                         t + absl::Seconds(30)),
              IsEmpty());
  EXPECT_THAT(book.HeldTaskAddresses(), SizeIs(1));
}

TEST(SwarmAddressBookTest, TaskThatEndedBeforeTheAgentCameIsAnInterval) {
  SwarmAddressBook book;
  auto events =
      book.Apply(View({MakeTask("gone", "shutdown", 1, "10.0.1.2", kT0,
                                kT0 + absl::Seconds(30)),
                       // Never got a container: it never held its address.
                       MakeTask("rejected", "rejected", 2, "10.0.1.3", kT0,
                                kT0 + absl::Seconds(1), ""),
                       // Not started yet: holds nothing yet.
                       MakeTask("pending", "preparing", 3, "10.0.1.4", kT0,
                                kT0 + absl::Seconds(1))}),
                 kT0 + absl::Seconds(60));
  EXPECT_THAT(Render(events), ElementsAre("ATTACH 10.0.1.2 ovl@+0s",
                                          "DETACH 10.0.1.2 ovl@+30s"));
}

TEST(SwarmAddressBookTest, TaskPrunedOrServiceRemovedEndsNow) {
  SwarmAddressBook book;
  book.Apply(View({MakeTask("a", "running", 1, "10.0.1.6", kT0, kT0)}), kT0);
  EXPECT_THAT(Render(book.Apply(View({}), kT0 + absl::Seconds(40))),
              ElementsAre("DETACH 10.0.1.6 ovl@+40s"));
  EXPECT_THAT(book.HeldTaskAddresses(), IsEmpty());
}

TEST(SwarmAddressBookTest, VipsAreKnownAndFollowTheirService) {
  SwarmAddressBook book;
  SwarmView view = View({});
  view.services[0].endpoint_mode = "vip";
  view.services[0].created_at = kT0 + absl::Seconds(3);
  view.services[0].virtual_ips = {VirtualIp{"net1", "10.0.1.4"}};
  auto events = book.Apply(view, kT0 + absl::Seconds(10));
  ASSERT_THAT(Render(events), ElementsAre("ATTACH 10.0.1.4 ovl@+3s"));
  EXPECT_EQ(events[0].owner().kind(), v1::OWNER_KIND_SWARM_VIP);
  EXPECT_EQ(events[0].owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(events[0].owner().service(), "srv");
  ASSERT_THAT(book.Vips(), SizeIs(1));
  EXPECT_EQ(book.Vips()[0].address(), "10.0.1.4");
  EXPECT_THAT(book.Apply(view, kT0 + absl::Seconds(11)), IsEmpty());

  view.services.clear();
  EXPECT_THAT(Render(book.Apply(view, kT0 + absl::Seconds(20))),
              ElementsAre("DETACH 10.0.1.4 ovl@+20s"));
  EXPECT_THAT(book.Vips(), IsEmpty());
}

// The stack was removed and deployed again while no agent watched: the old
// tasks are simply not in the new view, so Apply() has nothing to diff. The
// inventory lists what is held now, so the aggregator closes the rest.
TEST(SwarmAddressBookTest, InventoryListsHeldTasksAndVips) {
  SwarmAddressBook book;
  SwarmView view =
      View({MakeTask("b", "running", 2, "10.0.1.9", kT0, kT0),
            MakeTask("a", "running", 1, "10.0.1.6", kT0, kT0),
            MakeTask("gone", "shutdown", 3, "10.0.1.7", kT0, kT0)});
  view.services[0].virtual_ips = {VirtualIp{"net1", "10.0.1.2"}};
  book.Apply(view, kT0 + absl::Seconds(5));
  const v1::AddressEvent inventory = book.Inventory(kT0 + absl::Seconds(5));
  EXPECT_EQ(inventory.type(), v1::INVENTORY);
  EXPECT_EQ(inventory.source(), v1::SWARM_TASKS);
  EXPECT_EQ(FromProto(inventory.time()), kT0 + absl::Seconds(5));
  std::vector<std::string> listed;
  for (const v1::AddressOwner& owner : inventory.inventory()) {
    listed.push_back(
        absl::StrCat(owner.address(), " ", owner.task(),
                     owner.kind() == v1::OWNER_KIND_SWARM_VIP ? "vip" : ""));
  }
  EXPECT_THAT(listed, ElementsAre("10.0.1.2 vip", "10.0.1.6 srv.1.a",
                                  "10.0.1.9 srv.2.b"));
  // An empty view: an empty inventory, which closes everything.
  SwarmAddressBook empty;
  empty.Apply(View({}), kT0);
  EXPECT_EQ(empty.Inventory(kT0).inventory_size(), 0);
}

TEST(SwarmAddressBookTest, TaskAddressesAreClusterWide) {
  SwarmAddressBook book;
  auto events = book.Apply(
      View({MakeTask("g", "running", 0, "10.0.1.7", kT0, kT0)}), kT0);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
}

TEST(SwarmAddressBookTest, GlobalTaskNamedByNodeAndUnknownHostnameById) {
  SwarmAddressBook book;
  SwarmView view = View({MakeTask("g", "running", 0, "10.0.1.7", kT0, kT0)});
  view.nodes.clear();
  auto events = book.Apply(view, kT0);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].owner().task(), "srv.node1.g");
  EXPECT_EQ(events[0].owner().task_slot(), "");
  EXPECT_EQ(events[0].owner().node(), "node1");
}

// The managers lost node1 (link cut, then the node killed): they mark it
// down, and its task keeps "running" as its last word while its desired
// state turns to shutdown. It holds nothing from when the node went down.
TEST(SwarmAddressBookTest, TaskOnANodeMarkedDownHoldsNothing) {
  const Task task = MakeTask("a", "running", 1, "10.0.1.6", kT0, kT0);
  SwarmAddressBook book;
  ASSERT_THAT(Render(book.Apply(View({task}), kT0 + absl::Seconds(1))),
              ElementsAre("ATTACH 10.0.1.6 ovl@+0s"));

  SwarmView down = View({task});
  down.tasks[0].desired_state = "shutdown";
  down.nodes[0].state = "down";
  down.nodes[0].updated_at = kT0 + absl::Seconds(13);
  auto lost = book.Apply(down, kT0 + absl::Seconds(20));
  ASSERT_THAT(Render(lost), ElementsAre("DETACH 10.0.1.6 ovl@+13s"));
  EXPECT_EQ(lost[0].owner().close_reason(), v1::CLOSE_REASON_NODE_LOST);
  EXPECT_THAT(book.HeldTaskAddresses(), IsEmpty());
  EXPECT_THAT(book.Apply(down, kT0 + absl::Seconds(25)), IsEmpty());

  // An agent (re)started meanwhile never counts it as held.
  SwarmAddressBook fresh;
  EXPECT_THAT(fresh.Apply(down, kT0 + absl::Seconds(30)), IsEmpty());
  // Nor when the managers have not rescheduled it yet (desired running).
  SwarmView down_not_moved = down;
  down_not_moved.tasks[0].desired_state = "running";
  EXPECT_THAT(fresh.Apply(down_not_moved, kT0 + absl::Seconds(31)), IsEmpty());

  // The node comes back with the task still running: held again.
  EXPECT_THAT(Render(book.Apply(View({task}), kT0 + absl::Seconds(40))),
              ElementsAre("ATTACH 10.0.1.6 ovl@+0s"));
}

// The down mark is bounded: a node marked down before the holding began (a
// manager's clock behind) or after the poll (ahead) still gives a time
// within the holding.
TEST(SwarmAddressBookTest, DownMarkIsClampedToTheHoldingAndThePoll) {
  struct Case {
    std::string name;
    absl::Time updated_at;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"before the holding", kT0 - absl::Seconds(30),
       "DETACH 10.0.1.6 ovl@+5s"},
      {"unset", absl::InfinitePast(), "DETACH 10.0.1.6 ovl@+50s"},
      {"after the poll", kT0 + absl::Hours(1), "DETACH 10.0.1.6 ovl@+50s"},
  };
  for (const Case& c : cases) {
    SwarmAddressBook book;
    const Task task =
        MakeTask("a", "running", 1, "10.0.1.6", kT0, kT0 + absl::Seconds(5));
    book.Apply(View({task}), kT0 + absl::Seconds(6));
    SwarmView down = View({task});
    down.nodes[0].state = "down";
    down.nodes[0].updated_at = c.updated_at;
    EXPECT_THAT(Render(book.Apply(down, kT0 + absl::Seconds(50))),
                ElementsAre(c.want))
        << c.name;
  }
}

TEST(ToSwarmNodeTest, MapsStatesAndRepairsStrings) {
  Node node = SwarmNodeOf("id1",
                          "host-\xff\x01"
                          "b",
                          "10.0.0.5", "down");
  node.message = "heartbeat failure";
  node.availability = "drain";
  node.role = "manager";
  node.updated_at = kT0 + absl::Seconds(13);
  const v1::SwarmNode out = ToSwarmNode(node, kT0 + absl::Seconds(20));
  EXPECT_EQ(out.id(), "id1");
  EXPECT_TRUE(IsValidUtf8(out.hostname())) << out.hostname();
  EXPECT_EQ(out.hostname().find('\x01'), std::string::npos);
  EXPECT_EQ(out.state(), v1::SWARM_NODE_STATE_DOWN);
  EXPECT_EQ(out.availability(), v1::SWARM_NODE_AVAILABILITY_DRAIN);
  EXPECT_EQ(out.role(), v1::SWARM_NODE_ROLE_MANAGER);
  EXPECT_EQ(out.address(), "10.0.0.5");
  EXPECT_EQ(out.message(), "heartbeat failure");
  EXPECT_EQ(FromProto(out.state_since()), kT0 + absl::Seconds(13));
  EXPECT_EQ(FromProto(out.observed_at()), kT0 + absl::Seconds(20));

  struct Case {
    std::string state, availability, role;
    v1::SwarmNodeState want_state;
    v1::SwarmNodeAvailability want_availability;
    v1::SwarmNodeRole want_role;
  };
  const std::vector<Case> cases = {
      {"ready", "active", "worker", v1::SWARM_NODE_STATE_READY,
       v1::SWARM_NODE_AVAILABILITY_ACTIVE, v1::SWARM_NODE_ROLE_WORKER},
      {"unknown", "pause", "", v1::SWARM_NODE_STATE_UNKNOWN,
       v1::SWARM_NODE_AVAILABILITY_PAUSE, v1::SWARM_NODE_ROLE_UNSPECIFIED},
      {"disconnected", "", "boss", v1::SWARM_NODE_STATE_DISCONNECTED,
       v1::SWARM_NODE_AVAILABILITY_UNSPECIFIED,
       v1::SWARM_NODE_ROLE_UNSPECIFIED},
      {"Down", "DRAIN", "Manager", v1::SWARM_NODE_STATE_UNSPECIFIED,
       v1::SWARM_NODE_AVAILABILITY_UNSPECIFIED,
       v1::SWARM_NODE_ROLE_UNSPECIFIED},
  };
  for (const Case& c : cases) {
    Node n = SwarmNodeOf("id", "h", "", c.state);
    n.availability = c.availability;
    n.role = c.role;
    const v1::SwarmNode mapped = ToSwarmNode(n, kT0);
    EXPECT_EQ(mapped.state(), c.want_state) << c.state;
    EXPECT_EQ(mapped.availability(), c.want_availability) << c.availability;
    EXPECT_EQ(mapped.role(), c.want_role) << c.role;
    EXPECT_FALSE(mapped.has_state_since()) << c.state;
  }
}

}  // namespace
}  // namespace ghostpeer::agent::docker
