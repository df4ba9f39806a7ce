// The agent's view of docs/scenario.md's namespace recipe, through
// Snapshotter::Take() and through the real `ghostpeer-agent --once` binary.
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/proc_fs.h"
#include "agent/proc_net_tcp.h"
#include "agent/snapshotter.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/command.h"
#include "tests/support/netns_scenario.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::testing::NetnsScenario;
using ::ghostpeer::testing::NetnsScenarioOptions;

constexpr absl::Duration kPollInterval = absl::Milliseconds(250);

std::unique_ptr<NetnsScenario> StartScenario(NetnsScenarioOptions options) {
  absl::StatusOr<std::unique_ptr<NetnsScenario>> scenario =
      NetnsScenario::Create(std::move(options));
  if (absl::IsUnavailable(scenario.status())) return nullptr;
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  return scenario.ok() ? *std::move(scenario) : nullptr;
}

std::unique_ptr<Snapshotter> MakeSnapshotter(
    CaptureMode capture = CaptureMode::kNetlink) {
  SnapshotterOptions options;
  options.node = "test-node";
  options.capture = capture;
  absl::StatusOr<std::unique_ptr<Snapshotter>> snapshotter =
      Snapshotter::Create(std::move(options));
  EXPECT_TRUE(snapshotter.ok()) << snapshotter.status();
  return snapshotter.ok() ? *std::move(snapshotter) : nullptr;
}

v1::NodeSnapshot Take(Snapshotter& snapshotter) {
  absl::StatusOr<v1::NodeSnapshot> snapshot = snapshotter.Take();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? *std::move(snapshot) : v1::NodeSnapshot();
}

// The client's socket to the server, or nullptr.
const v1::SocketRecord* ClientSocket(const v1::NodeSnapshot& snapshot,
                                     const NetnsScenario& scenario,
                                     int client) {
  const absl::StatusOr<uint64_t> inode =
      NetnsScenario::NetnsInode(scenario.client_netns(client));
  if (!inode.ok()) return nullptr;
  for (const v1::SocketRecord& socket : snapshot.sockets()) {
    if (socket.netns_inode() == *inode &&
        socket.remote_ip() == scenario.server_address() &&
        socket.remote_port() == scenario.server_port()) {
      return &socket;
    }
  }
  return nullptr;
}

bool SomeNamespaceHolds(const v1::NodeSnapshot& snapshot,
                        const std::string& address) {
  for (const v1::NamespaceInfo& ns : snapshot.namespaces()) {
    for (const v1::InterfaceAddress& held : ns.addresses()) {
      if (held.address() == address) return true;
    }
  }
  return false;
}

const v1::NamespaceInfo* FindNamespace(const v1::NodeSnapshot& snapshot,
                                       const std::string& netns) {
  const absl::StatusOr<uint64_t> inode = NetnsScenario::NetnsInode(netns);
  if (!inode.ok()) return nullptr;
  for (const v1::NamespaceInfo& ns : snapshot.namespaces()) {
    if (ns.inode() == *inode) return &ns;
  }
  return nullptr;
}

// Takes snapshots until `done` holds for the client socket (bounded).
v1::NodeSnapshot TakeUntil(
    Snapshotter& snapshotter, const NetnsScenario& scenario,
    absl::Duration limit,
    const std::function<bool(const v1::SocketRecord&)>& done) {
  const absl::Time deadline = absl::Now() + limit;
  v1::NodeSnapshot snapshot;
  do {
    snapshot = Take(snapshotter);
    const v1::SocketRecord* socket = ClientSocket(snapshot, scenario, 0);
    if (socket != nullptr && done(*socket)) return snapshot;
    absl::SleepFor(kPollInterval);
  } while (absl::Now() < deadline);
  return snapshot;
}

std::string Comm(pid_t pid) {
  absl::StatusOr<std::string> comm =
      ReadSmallFile(absl::StrCat("/proc/", pid, "/comm"));
  return comm.ok() ? std::string(absl::StripAsciiWhitespace(*comm)) : "";
}

// The whole story of the seed failure, FIN first, over IPv4 and IPv6.
class VanishedPeerTest : public ::testing::TestWithParam<bool> {};

TEST_P(VanishedPeerTest, ClientWritesIntoTheVoidInCloseWait) {
  NetnsScenarioOptions options;
  options.ipv6 = GetParam();
  std::unique_ptr<NetnsScenario> scenario = StartScenario(options);
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);

  // Before: the server's FIN arrived (CLOSE_WAIT), its address is observed.
  v1::NodeSnapshot before =
      TakeUntil(*snapshotter, *scenario, absl::Seconds(10),
                [](const v1::SocketRecord& s) {
                  return s.state() == v1::TCP_STATE_CLOSE_WAIT;
                });
  const v1::SocketRecord* socket = ClientSocket(before, *scenario, 0);
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_TRUE(socket->peer_closed());
  EXPECT_EQ(socket->local_ip(), scenario->client_address(0));
  EXPECT_NE(socket->local_port(), 0u);
  EXPECT_EQ(socket->node(), "test-node");
  EXPECT_EQ(socket->source(), v1::CAPTURE_SOURCE_SOCK_DIAG);
  EXPECT_EQ(socket->pid(), scenario->client_pid(0));
  EXPECT_EQ(socket->comm(), Comm(scenario->client_pid(0)));
  EXPECT_NE(socket->inode(), 0u);
  EXPECT_TRUE(SomeNamespaceHolds(before, scenario->server_address()));
  const v1::NamespaceInfo* server_ns =
      FindNamespace(before, scenario->server_netns());
  ASSERT_NE(server_ns, nullptr);
  EXPECT_EQ(server_ns->status(), v1::NAMESPACE_STATUS_OK);
  EXPECT_EQ(server_ns->netns_name(), scenario->server_netns());
  EXPECT_EQ(server_ns->pid(), scenario->server_pid());
  ASSERT_EQ(server_ns->addresses_size(), 1);
  EXPECT_EQ(server_ns->addresses(0).interface(), "eth0");
  EXPECT_EQ(before.stats().namespaces_failed(), 0u);

  ASSERT_TRUE(scenario->Vanish().ok());

  // After: data piles up, retransmissions back off, the address is gone.
  v1::NodeSnapshot first = TakeUntil(
      *snapshotter, *scenario, absl::Seconds(10),
      [](const v1::SocketRecord& s) { return s.tcp_info().backoff() > 0; });
  const v1::SocketRecord* ghost = ClientSocket(first, *scenario, 0);
  ASSERT_NE(ghost, nullptr);
  EXPECT_GT(ghost->tcp_info().backoff(), 0u);
  EXPECT_GT(ghost->tcp_info().unacked(), 0u);
  EXPECT_EQ(ghost->state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(ghost->timer(), 1u);  // retransmission timer
  const uint32_t first_queue = ghost->send_queue();
  EXPECT_GT(first_queue, 0u);
  EXPECT_FALSE(SomeNamespaceHolds(first, scenario->server_address()));
  EXPECT_EQ(FindNamespace(first, scenario->server_netns()), nullptr);

  absl::SleepFor(absl::Seconds(1));
  v1::NodeSnapshot second = Take(*snapshotter);
  ghost = ClientSocket(second, *scenario, 0);
  ASSERT_NE(ghost, nullptr);
  EXPECT_GT(ghost->send_queue(), first_queue);  // the client keeps writing
  EXPECT_GT(ghost->tcp_info().bytes_sent(), ghost->tcp_info().bytes_acked());
}

INSTANTIATE_TEST_SUITE_P(Families, VanishedPeerTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Ipv6" : "Ipv4";
                         });

TEST(VanishedPeerWithoutFin, ClientStaysEstablishedWithUnackedData) {
  NetnsScenarioOptions options;
  options.server_fin_after = absl::ZeroDuration();
  std::unique_ptr<NetnsScenario> scenario = StartScenario(options);
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  ASSERT_TRUE(scenario->Vanish().ok());
  v1::NodeSnapshot snapshot = TakeUntil(
      *snapshotter, *scenario, absl::Seconds(10),
      [](const v1::SocketRecord& s) { return s.tcp_info().backoff() > 0; });
  const v1::SocketRecord* ghost = ClientSocket(snapshot, *scenario, 0);
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->state(), v1::TCP_STATE_ESTABLISHED);
  EXPECT_FALSE(ghost->peer_closed());
  EXPECT_GT(ghost->tcp_info().unacked(), 0u);
  EXPECT_GT(ghost->send_queue(), 0u);
  EXPECT_GT(ghost->tcp_info().backoff(), 0u);
}

TEST(IdleClient, SitsInCloseWaitWithNothingQueued) {
  NetnsScenarioOptions options;
  options.client_mode = ::ghostpeer::testing::ClientMode::kIdle;
  std::unique_ptr<NetnsScenario> scenario = StartScenario(options);
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  TakeUntil(*snapshotter, *scenario, absl::Seconds(10),
            [](const v1::SocketRecord& s) {
              return s.state() == v1::TCP_STATE_CLOSE_WAIT;
            });
  ASSERT_TRUE(scenario->Vanish().ok());
  absl::SleepFor(absl::Seconds(1));
  v1::NodeSnapshot snapshot = Take(*snapshotter);
  const v1::SocketRecord* socket = ClientSocket(snapshot, *scenario, 0);
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(socket->send_queue(), 0u);
  EXPECT_EQ(socket->tcp_info().unacked(), 0u);
  EXPECT_FALSE(SomeNamespaceHolds(snapshot, scenario->server_address()));
}

TEST(ReassignedAddress, AnotherNamespaceNowHoldsTheAddress) {
  std::unique_ptr<NetnsScenario> scenario = StartScenario({});
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  const v1::NodeSnapshot before = Take(*snapshotter);
  const v1::NamespaceInfo* old_owner =
      FindNamespace(before, scenario->server_netns());
  ASSERT_NE(old_owner, nullptr);
  const uint64_t old_inode = old_owner->inode();
  ASSERT_TRUE(scenario->Vanish().ok());
  ASSERT_TRUE(scenario->GiveServerAddressAway().ok());
  const v1::NodeSnapshot after = Take(*snapshotter);
  const v1::NamespaceInfo* new_owner =
      FindNamespace(after, scenario->new_owner_netns());
  ASSERT_NE(new_owner, nullptr);
  EXPECT_NE(new_owner->inode(), old_inode);
  ASSERT_EQ(new_owner->addresses_size(), 1);
  EXPECT_EQ(new_owner->addresses(0).address(), scenario->server_address());
}

// Defect: a process or a namespace named with bytes that are not UTF-8 (no
// privilege needed for the first) made the agent send messages the
// aggregator could not parse, and the node went dark. Both names now reach
// the snapshot repaired, and the snapshot encodes into a parsable message.
TEST(HostileNames, InvalidUtf8CommAndNamespaceNameStillEncode) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to add a network namespace";
  const std::string netns = absl::StrCat("gp-bad-\xff-", getpid());
  const std::string shown = absl::StrCat("gp-bad-\\xff-", getpid());
  ASSERT_TRUE(
      ::ghostpeer::testing::RunCommand({"ip", "netns", "add", netns}).ok());
  struct Cleanup {
    std::string netns;
    pid_t child = -1;
    ~Cleanup() {
      if (child > 0) (void)::ghostpeer::testing::KillAndReap(child);
      (void)::ghostpeer::testing::RunCommand({"ip", "netns", "delete", netns});
    }
  } cleanup{netns};
  absl::StatusOr<pid_t> child =
      ::ghostpeer::testing::SpawnInNamespace(netns, [] {
        prctl(PR_SET_NAME, "\xff\xfe\tevil");
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address = {};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_ANY);
        if (fd < 0 ||
            bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
                0 ||
            listen(fd, 1) != 0) {
          _exit(1);
        }
        pause();  // killed by the test
      });
  ASSERT_TRUE(child.ok()) << child.status();
  cleanup.child = *child;

  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  v1::NodeSnapshot snapshot;
  const v1::SocketRecord* held = nullptr;
  while (held == nullptr && absl::Now() < deadline) {
    snapshot = Take(*snapshotter);
    for (const v1::SocketRecord& socket : snapshot.sockets()) {
      if (socket.pid() == *child && socket.comm() == "\\xff\\xfe\\tevil") {
        held = &socket;
      }
    }
    if (held == nullptr) absl::SleepFor(kPollInterval);
  }
  ASSERT_NE(held, nullptr) << "no socket of the child with its repaired name";
  const v1::NamespaceInfo* ns = FindNamespace(snapshot, netns);
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ(ns->netns_name(), shown);
  // The handle it was opened through, which may be the named file.
  EXPECT_EQ(ns->path().find('\xff'), std::string::npos) << ns->path();

  v1::AgentMessage message;
  message.mutable_socket_snapshot()->set_snapshot_id(1);
  *message.mutable_socket_snapshot()->mutable_snapshot() = snapshot;
  v1::AgentMessage parsed;
  EXPECT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
}

TEST(ManyClients, EveryClientSocketIsAttributed) {
  NetnsScenarioOptions options;
  options.clients = 5;
  options.server_fin_after = absl::ZeroDuration();
  std::unique_ptr<NetnsScenario> scenario = StartScenario(options);
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  for (int round = 0; round < 2; ++round) {  // cold, then from the caches
    const v1::NodeSnapshot snapshot = Take(*snapshotter);
    for (int i = 0; i < scenario->client_count(); ++i) {
      const absl::StatusOr<uint64_t> inode =
          NetnsScenario::NetnsInode(scenario->client_netns(i));
      ASSERT_TRUE(inode.ok());
      int found = 0;
      for (const v1::SocketRecord& socket : snapshot.sockets()) {
        if (socket.netns_inode() != *inode) continue;
        ++found;
        EXPECT_EQ(socket.pid(), scenario->client_pid(i)) << "round " << round;
        EXPECT_EQ(socket.state(), v1::TCP_STATE_ESTABLISHED);
      }
      EXPECT_EQ(found, 1) << "client " << i << " round " << round;
    }
  }
}

TEST(ProcFallback, SameSocketsWithoutTcpInfo) {
  std::unique_ptr<NetnsScenario> scenario = StartScenario({});
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter =
      MakeSnapshotter(CaptureMode::kProcNetTcp);
  ASSERT_NE(snapshotter, nullptr);
  const v1::NodeSnapshot snapshot =
      TakeUntil(*snapshotter, *scenario, absl::Seconds(10),
                [](const v1::SocketRecord& s) {
                  return s.state() == v1::TCP_STATE_CLOSE_WAIT;
                });
  const v1::SocketRecord* socket = ClientSocket(snapshot, *scenario, 0);
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->source(), v1::CAPTURE_SOURCE_PROC_NET_TCP);
  EXPECT_EQ(socket->state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(socket->pid(), scenario->client_pid(0));
  const v1::NamespaceInfo* client_ns =
      FindNamespace(snapshot, scenario->client_netns(0));
  ASSERT_NE(client_ns, nullptr);
  EXPECT_EQ(client_ns->status(), v1::NAMESPACE_STATUS_FALLBACK);
  EXPECT_GT(snapshot.stats().namespaces_fallback(), 0u);
  // Addresses still come from rtnetlink.
  EXPECT_TRUE(SomeNamespaceHolds(snapshot, scenario->client_address(0)));
}

// Connected UDP (issue 10), both families: client 0 connect()ed its
// datagram socket to the server in another namespace and sends every
// 0.2 s; client 1 only sendto()s, and the server's socket is bound, never
// connected. Only client 0's socket is reported: UDP, attributed to its
// process, by netlink and by the /proc fallback alike.
class ConnectedUdpTest : public ::testing::TestWithParam<bool> {};

// The sockets a snapshot holds in `netns`.
std::vector<const v1::SocketRecord*> SocketsIn(const v1::NodeSnapshot& snapshot,
                                               const std::string& netns) {
  std::vector<const v1::SocketRecord*> out;
  const absl::StatusOr<uint64_t> inode = NetnsScenario::NetnsInode(netns);
  if (!inode.ok()) return out;
  for (const v1::SocketRecord& socket : snapshot.sockets()) {
    if (socket.netns_inode() == *inode) out.push_back(&socket);
  }
  return out;
}

TEST_P(ConnectedUdpTest, ConnectedIsReportedUnconnectedIsNot) {
  NetnsScenarioOptions options;
  options.ipv6 = GetParam();
  options.transport = ::ghostpeer::testing::Transport::kUdp;
  options.clients = 2;
  options.unconnected_clients = 1;
  options.write_interval = absl::Milliseconds(200);
  options.prefix = "gp-it-udp-";
  std::unique_ptr<NetnsScenario> scenario = StartScenario(options);
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";

  // The premise: the unconnected sockets exist (state 07 in the kernel's own
  // table), so their absence below is the agent leaving them out.
  for (pid_t pid : {scenario->client_pid(1), scenario->server_pid()}) {
    absl::StatusOr<std::string> table = ReadSmallFile(
        absl::StrCat("/proc/", pid, "/net/", options.ipv6 ? "udp6" : "udp"));
    ASSERT_TRUE(table.ok()) << table.status();
    absl::StatusOr<ProcNetTcpResult> parsed =
        ParseProcNetUdp(*table, options.ipv6 ? AF_INET6 : AF_INET);
    ASSERT_TRUE(parsed.ok());
    EXPECT_GE(parsed->unconnected_skipped, 1u) << *table;
  }

  for (CaptureMode capture :
       {CaptureMode::kNetlink, CaptureMode::kProcNetTcp}) {
    const bool netlink = capture == CaptureMode::kNetlink;
    SCOPED_TRACE(netlink ? "netlink" : "/proc");
    std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter(capture);
    ASSERT_NE(snapshotter, nullptr);
    const v1::NodeSnapshot snapshot = Take(*snapshotter);

    const std::vector<const v1::SocketRecord*> connected =
        SocketsIn(snapshot, scenario->client_netns(0));
    ASSERT_EQ(connected.size(), 1u);
    const v1::SocketRecord& udp = *connected[0];
    EXPECT_EQ(udp.protocol(), v1::PROTOCOL_UDP);
    EXPECT_EQ(udp.state(), v1::TCP_STATE_ESTABLISHED);
    EXPECT_EQ(udp.remote_ip(), scenario->server_address());
    EXPECT_EQ(udp.remote_port(), scenario->server_port());
    EXPECT_EQ(udp.local_ip(), scenario->client_address(0));
    EXPECT_NE(udp.local_port(), 0u);
    EXPECT_NE(udp.inode(), 0u);
    EXPECT_FALSE(udp.has_tcp_info());
    EXPECT_FALSE(udp.peer_closed());
    EXPECT_EQ(udp.source(), netlink ? v1::CAPTURE_SOURCE_SOCK_DIAG
                                    : v1::CAPTURE_SOURCE_PROC_NET_TCP);
    EXPECT_EQ(udp.pid(), scenario->client_pid(0));
    EXPECT_EQ(udp.comm(), Comm(scenario->client_pid(0)));
    EXPECT_FALSE(udp.comm().empty());

    EXPECT_TRUE(SocketsIn(snapshot, scenario->client_netns(1)).empty())
        << "a sendto()-only socket has no peer";
    EXPECT_TRUE(SocketsIn(snapshot, scenario->server_netns()).empty())
        << "a bound, unconnected server socket has no peer";
    const v1::NamespaceInfo* ns =
        FindNamespace(snapshot, scenario->client_netns(0));
    ASSERT_NE(ns, nullptr);
    EXPECT_EQ(ns->error().find("udp"), std::string::npos) << ns->error();
  }

  // What people see: a udp row to the server in `--once -o table`.
  absl::StatusOr<std::string> table = ::ghostpeer::testing::RunCommand(
      {GHOSTPEER_AGENT_BINARY, "--once", "-o", "table", "--netns-only",
       scenario->client_netns(0) + "," + scenario->client_netns(1)});
  ASSERT_TRUE(table.ok()) << table.status();
  const std::vector<std::string> lines = absl::StrSplit(*table, '\n');
  int udp_rows = 0;
  for (const std::string& line : lines) {
    const std::vector<std::string> cells =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() > 5 && cells[1] == "udp") {
      ++udp_rows;
      EXPECT_NE(line.find(scenario->server_address()), std::string::npos)
          << line;
    }
  }
  EXPECT_EQ(udp_rows, 1) << *table;
}

INSTANTIATE_TEST_SUITE_P(Families, ConnectedUdpTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Ipv6" : "Ipv4";
                         });

TEST(AgentBinary, OnceJsonShowsTheGhost) {
  std::unique_ptr<NetnsScenario> scenario = StartScenario({});
  if (scenario == nullptr) GTEST_SKIP() << "needs root and iproute2";
  std::unique_ptr<Snapshotter> snapshotter = MakeSnapshotter();
  ASSERT_NE(snapshotter, nullptr);
  TakeUntil(*snapshotter, *scenario, absl::Seconds(10),
            [](const v1::SocketRecord& s) {
              return s.state() == v1::TCP_STATE_CLOSE_WAIT;
            });
  ASSERT_TRUE(scenario->Vanish().ok());
  absl::SleepFor(absl::Seconds(2));

  absl::StatusOr<std::string> json = ::ghostpeer::testing::RunCommand(
      {GHOSTPEER_AGENT_BINARY, "--once", "-o", "json", "--node", "bin-node",
       "--state", "close-wait"});
  ASSERT_TRUE(json.ok()) << json.status();
  v1::NodeSnapshot snapshot;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(*json, &snapshot).ok());
  EXPECT_EQ(snapshot.node(), "bin-node");
  const v1::SocketRecord* ghost = ClientSocket(snapshot, *scenario, 0);
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->state(), v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_GT(ghost->send_queue(), 0u);
  EXPECT_EQ(ghost->pid(), scenario->client_pid(0));
  EXPECT_EQ(snapshot.sockets(0).send_queue(), ghost->send_queue())
      << "sorted by send queue, the ghost comes first";
  EXPECT_NE(json->find("\"state\": \"TCP_STATE_CLOSE_WAIT\""),
            std::string::npos);

  absl::StatusOr<std::string> table =
      ::ghostpeer::testing::RunCommand({GHOSTPEER_AGENT_BINARY, "--once", "-o",
                                        "table", "--state", "close-wait"});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_NE(table->find(scenario->server_address()), std::string::npos);
  EXPECT_NE(table->find("CLOSE-WAIT"), std::string::npos);

  absl::StatusOr<std::string> bad = ::ghostpeer::testing::RunCommand(
      {GHOSTPEER_AGENT_BINARY, "--once", "--sort", "sideways"});
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("exit status 2"), std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace ghostpeer::agent
