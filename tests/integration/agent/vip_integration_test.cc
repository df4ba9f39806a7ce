// The agent sees through a VIP (../shared/NOTES-vip-nat.md §5): a client's
// socket names a virtual IP that a router namespace translates (iptables
// DNAT, or IPVS where the kernel has it); the snapshot gives that socket
// the real backend, the translator and the router's namespace, through
// Snapshotter::Take() and through the real `ghostpeer-agent --once`.
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/snapshotter.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/command.h"
#include "tests/support/netns_scenario.h"
#include "tests/support/vip_scenario.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::testing::NetnsScenario;
using ::ghostpeer::testing::RunCommand;
using ::ghostpeer::testing::VipScenario;
using ::ghostpeer::testing::VipScenarioOptions;

constexpr absl::Duration kPollInterval = absl::Milliseconds(250);

// The scenario, or nullptr with `*skip` set to why it cannot run here.
std::unique_ptr<VipScenario> StartScenario(VipScenarioOptions options,
                                           std::string* skip) {
  absl::StatusOr<std::unique_ptr<VipScenario>> scenario =
      VipScenario::Create(std::move(options));
  if (absl::IsUnavailable(scenario.status())) {
    *skip = std::string(scenario.status().message());
    return nullptr;
  }
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  if (!scenario.ok()) *skip = "scenario failed";
  return scenario.ok() ? *std::move(scenario) : nullptr;
}

// `follow_from`: SnapshotterOptions::follow_conntrack_from (0: follow the
// router's conntrack from the first snapshot on).
std::unique_ptr<Snapshotter> MakeSnapshotter(const VipScenario& scenario,
                                             size_t follow_from = 256) {
  SnapshotterOptions options;
  options.node = "vip-node";
  options.follow_conntrack_from = follow_from;
  options.netns_only = {scenario.netns_glob()};
  absl::StatusOr<std::unique_ptr<Snapshotter>> snapshotter =
      Snapshotter::Create(std::move(options));
  EXPECT_TRUE(snapshotter.ok()) << snapshotter.status();
  return snapshotter.ok() ? *std::move(snapshotter) : nullptr;
}

uint64_t Inode(const std::string& netns) {
  absl::StatusOr<uint64_t> inode = NetnsScenario::NetnsInode(netns);
  EXPECT_TRUE(inode.ok()) << inode.status();
  return inode.value_or(0);
}

// The sockets of the client namespace that name the VIP.
std::vector<const v1::SocketRecord*> VipSockets(
    const v1::NodeSnapshot& snapshot, const VipScenario& scenario) {
  const uint64_t client_inode = Inode(scenario.client_netns());
  std::vector<const v1::SocketRecord*> found;
  for (const v1::SocketRecord& socket : snapshot.sockets()) {
    if (socket.netns_inode() == client_inode &&
        socket.remote_ip() == scenario.vip() &&
        socket.remote_port() == scenario.port()) {
      found.push_back(&socket);
    }
  }
  return found;
}

// Takes snapshots until `count` client sockets to the VIP are translated
// (bounded: conntrack confirms an entry with the first packet, so this is
// the first snapshot in practice).
v1::NodeSnapshot TakeTranslated(Snapshotter& snapshotter,
                                const VipScenario& scenario, size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  v1::NodeSnapshot snapshot;
  do {
    absl::StatusOr<v1::NodeSnapshot> taken = snapshotter.Take();
    EXPECT_TRUE(taken.ok()) << taken.status();
    if (taken.ok()) snapshot = *std::move(taken);
    size_t translated = 0;
    for (const v1::SocketRecord* socket : VipSockets(snapshot, scenario)) {
      if (!socket->backend_ip().empty()) ++translated;
    }
    if (translated >= count) return snapshot;
    absl::SleepFor(kPollInterval);
  } while (absl::Now() < deadline);
  return snapshot;
}

const v1::SocketRecord* SocketOf(const v1::NodeSnapshot& snapshot,
                                 const VipScenario& scenario,
                                 uint32_t local_port) {
  for (const v1::SocketRecord* socket : VipSockets(snapshot, scenario)) {
    if (socket->local_port() == local_port) return socket;
  }
  return nullptr;
}

class VipTest : public ::testing::TestWithParam<bool> {
 protected:
  VipScenarioOptions Options() const {
    VipScenarioOptions options;
    options.ipv6 = GetParam();
    options.client_write_interval = absl::Milliseconds(100);
    options.prefix = "gp-it-vip-";
    return options;
  }
};

// The client's socket names the VIP; the router's conntrack names the
// backend; the agent's JSON and table say both.
TEST_P(VipTest, AgentOnceShowsTheBackendBehindTheVip) {
  std::string skip;
  std::unique_ptr<VipScenario> scenario = StartScenario(Options(), &skip);
  if (scenario == nullptr) GTEST_SKIP() << skip;
  absl::StatusOr<pid_t> client = scenario->ConnectClient();
  ASSERT_TRUE(client.ok()) << client.status();

  const std::vector<std::string> once = {
      GHOSTPEER_AGENT_BINARY, "--once", "--node", "vip-node", "--netns-only",
      scenario->netns_glob()};
  std::vector<std::string> json_argv = once;
  json_argv.insert(json_argv.end(), {"-o", "json"});
  absl::StatusOr<std::string> json = RunCommand(json_argv);
  ASSERT_TRUE(json.ok()) << json.status();
  v1::NodeSnapshot snapshot;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(*json, &snapshot).ok());
  std::vector<const v1::SocketRecord*> sockets =
      VipSockets(snapshot, *scenario);
  ASSERT_EQ(sockets.size(), 1u) << *json;
  const v1::SocketRecord& socket = *sockets[0];
  EXPECT_EQ(socket.local_ip(), scenario->client_address());
  EXPECT_EQ(socket.backend_ip(), scenario->backend_address(1)) << *json;
  EXPECT_EQ(socket.backend_port(), scenario->port());
  EXPECT_EQ(socket.translated_by(), v1::TRANSLATOR_CONNTRACK);
  EXPECT_EQ(socket.translation_netns_inode(), Inode(scenario->router_netns()));
  EXPECT_EQ(socket.pid(), *client);
  EXPECT_EQ(snapshot.translation_status(), "ok");
  EXPECT_GE(snapshot.stats().translations(), 1u);
  EXPECT_EQ(snapshot.stats().translation_namespaces_failed(), 0u);
  for (const char* field :
       {"\"backend_ip\"", "\"backend_port\"",
        "\"translated_by\": \"TRANSLATOR_CONNTRACK\"",
        "\"translation_netns_inode\"", "\"translation_status\": \"ok\""}) {
    EXPECT_TRUE(absl::StrContains(*json, field)) << field;
  }

  std::vector<std::string> table_argv = once;
  table_argv.insert(table_argv.end(), {"-o", "table"});
  absl::StatusOr<std::string> table = RunCommand(table_argv);
  ASSERT_TRUE(table.ok()) << table.status();
  const auto endpoint = [&](const std::string& ip) {
    return GetParam() ? absl::StrCat("[", ip, "]:", scenario->port())
                      : absl::StrCat(ip, ":", scenario->port());
  };
  EXPECT_TRUE(absl::StrContains(
      *table, absl::StrCat(endpoint(scenario->vip()), " -> ",
                           endpoint(scenario->backend_address(1)))))
      << *table;

  // Turned off: no backend, and the node says it cannot see through VIPs.
  json_argv.push_back("--translations=off");
  json = RunCommand(json_argv);
  ASSERT_TRUE(json.ok()) << json.status();
  snapshot.Clear();
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(*json, &snapshot).ok());
  sockets = VipSockets(snapshot, *scenario);
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0]->backend_ip(), "");
  EXPECT_EQ(sockets[0]->translated_by(), v1::TRANSLATOR_UNSPECIFIED);
  EXPECT_EQ(snapshot.translation_status(), kTranslationsOff);
}

// The failure itself: the backend vanishes, the client keeps writing to the
// live VIP, and the router's conntrack keeps sending it to the dead backend:
// the snapshot still names .11. A connection made after the VIP is
// re-pointed names .12, beside it.
TEST_P(VipTest, StaleTranslationOutlivesTheBackend) {
  std::string skip;
  std::unique_ptr<VipScenario> scenario = StartScenario(Options(), &skip);
  if (scenario == nullptr) GTEST_SKIP() << skip;
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter(*scenario);
  ASSERT_NE(snapshotter, nullptr);
  ASSERT_TRUE(scenario->ConnectClient().ok());
  v1::NodeSnapshot before = TakeTranslated(*snapshotter, *scenario, 1);
  ASSERT_EQ(VipSockets(before, *scenario).size(), 1u);
  const uint32_t old_port = VipSockets(before, *scenario)[0]->local_port();

  ASSERT_TRUE(scenario->Vanish(1).ok());
  ASSERT_TRUE(scenario->RepointVip(2).ok());
  ASSERT_TRUE(scenario->ConnectClient().ok());
  // Two snapshots a second apart: the old socket's data piles up.
  v1::NodeSnapshot first = TakeTranslated(*snapshotter, *scenario, 2);
  absl::SleepFor(absl::Seconds(1));
  v1::NodeSnapshot second = TakeTranslated(*snapshotter, *scenario, 2);
  const v1::SocketRecord* stale = SocketOf(second, *scenario, old_port);
  ASSERT_NE(stale, nullptr);
  EXPECT_EQ(stale->backend_ip(), scenario->backend_address(1))
      << "the dead backend, still in the router's conntrack";
  EXPECT_EQ(stale->translation_netns_inode(), Inode(scenario->router_netns()));
  EXPECT_EQ(stale->state(), v1::TCP_STATE_ESTABLISHED);
  const v1::SocketRecord* stale_before = SocketOf(first, *scenario, old_port);
  ASSERT_NE(stale_before, nullptr);
  EXPECT_GT(stale->send_queue(), stale_before->send_queue())
      << "the client keeps writing into the void";
  int fresh = 0;
  for (const v1::SocketRecord* socket : VipSockets(second, *scenario)) {
    if (socket->local_port() == old_port) continue;
    ++fresh;
    EXPECT_EQ(socket->backend_ip(), scenario->backend_address(2));
    EXPECT_EQ(socket->translated_by(), v1::TRANSLATOR_CONNTRACK);
  }
  EXPECT_EQ(fresh, 1);
  // Nobody holds the dead backend's address any more.
  for (const v1::NamespaceInfo& ns : second.namespaces()) {
    for (const v1::InterfaceAddress& address : ns.addresses()) {
      EXPECT_NE(address.address(), scenario->backend_address(1));
    }
  }
}

// The router's conntrack followed through its events: an entry that goes
// (here `conntrack -D`; in life it expires while its backend is silent)
// and is recreated by the client's next packet is DNAT'ed to where the VIP
// points now, and the next snapshot names that backend without re-reading
// the table.
TEST_P(VipTest, FollowedConntrackSeesTheReDnatOfARecreatedEntry) {
  std::string skip;
  std::unique_ptr<VipScenario> scenario = StartScenario(Options(), &skip);
  if (scenario == nullptr) GTEST_SKIP() << skip;
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter(*scenario, 0);
  ASSERT_NE(snapshotter, nullptr);
  ASSERT_TRUE(scenario->ConnectClient().ok());
  v1::NodeSnapshot first = TakeTranslated(*snapshotter, *scenario, 1);
  ASSERT_EQ(VipSockets(first, *scenario).size(), 1u);
  const uint32_t port = VipSockets(first, *scenario)[0]->local_port();
  // The first read is full and starts the follower, whose first read
  // resyncs; the third snapshot follows.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(snapshotter->Take().ok());
  const Snapshotter::FollowStats following = snapshotter->follow_stats();
  ASSERT_GE(following.namespaces, 1u)
      << "no follower: does this process lack CAP_NET_ADMIN?";

  // Backend 2 is silent (no RST to end the client's connection), and the
  // VIP now points there; the client's entry goes.
  ASSERT_TRUE(scenario->Vanish(2).ok());
  ASSERT_TRUE(scenario->RepointVip(2).ok());
  const std::string family = GetParam() ? "ipv6" : "ipv4";
  ASSERT_TRUE(RunCommand({"ip", "netns", "exec", scenario->router_netns(),
                          "conntrack", "-D", "-f", family, "-p", "tcp",
                          "--orig-port-src", absl::StrCat(port)})
                  .ok());
  // Bounded wait for the client's next packet to make the new entry.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool recreated = false;
  while (!recreated && absl::Now() < deadline) {
    absl::StatusOr<std::string> listed = RunCommand(
        {"ip", "netns", "exec", scenario->router_netns(), "conntrack", "-L",
         "-f", family, "-p", "tcp", "--orig-port-src", absl::StrCat(port)});
    recreated =
        listed.ok() && absl::StrContains(*listed, scenario->backend_address(2));
    if (!recreated) absl::SleepFor(kPollInterval);
  }
  ASSERT_TRUE(recreated) << "the client's flow was not DNAT'ed again";

  absl::StatusOr<v1::NodeSnapshot> next = snapshotter->Take();
  ASSERT_TRUE(next.ok()) << next.status();
  const v1::SocketRecord* socket = SocketOf(*next, *scenario, port);
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->backend_ip(), scenario->backend_address(2));
  EXPECT_EQ(socket->translated_by(), v1::TRANSLATOR_CONNTRACK);
  const Snapshotter::FollowStats after = snapshotter->follow_stats();
  EXPECT_EQ(after.resyncs, following.resyncs) << "read in full, not followed";
  EXPECT_GT(after.events, following.events);
  EXPECT_EQ(next->translation_status(), "ok");
}

INSTANTIATE_TEST_SUITE_P(Families, VipTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Ipv6" : "Ipv4";
                         });

// Docker swarm's load balancer: IPVS in the router (lb_) namespace, which
// only runs where the kernel has IPVS.
TEST(IpvsVip, SocketIsTranslatedByIpvsWithTheNamespaceSettings) {
  VipScenarioOptions options;
  options.ipvs = true;
  options.prefix = "gp-it-vip-";
  std::string skip;
  std::unique_ptr<VipScenario> scenario = StartScenario(options, &skip);
  if (scenario == nullptr) GTEST_SKIP() << skip;
  // Followed: IPVS is read every time beside the followed conntrack.
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter(*scenario, 0);
  ASSERT_NE(snapshotter, nullptr);
  ASSERT_TRUE(scenario->ConnectClient().ok());
  v1::NodeSnapshot snapshot = TakeTranslated(*snapshotter, *scenario, 1);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::NodeSnapshot> taken = snapshotter->Take();
    ASSERT_TRUE(taken.ok()) << taken.status();
    snapshot = *std::move(taken);
  }
  std::vector<const v1::SocketRecord*> sockets =
      VipSockets(snapshot, *scenario);
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets[0]->backend_ip(), scenario->backend_address(1));
  EXPECT_EQ(sockets[0]->backend_port(), scenario->port());
  // The router has both an IPVS connection and (vs/conntrack=1) a conntrack
  // entry for the flow: IPVS is the one that chose.
  EXPECT_EQ(sockets[0]->translated_by(), v1::TRANSLATOR_IPVS);
  const uint64_t router = Inode(scenario->router_netns());
  EXPECT_EQ(sockets[0]->translation_netns_inode(), router);
  bool router_seen = false;
  for (const v1::NamespaceInfo& ns : snapshot.namespaces()) {
    if (ns.inode() != router) continue;
    router_seen = true;
    ASSERT_TRUE(ns.has_ipvs());
    EXPECT_GE(ns.ipvs().expire_nodest_conn(), 0);
    EXPECT_GE(ns.ipvs().conn_reuse_mode(), 0);
  }
  EXPECT_TRUE(router_seen);
  EXPECT_EQ(snapshot.translation_status(), "ok");
}

}  // namespace
}  // namespace ghostpeer::agent
