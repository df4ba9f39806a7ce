// Node loss (issue 9): the rule alone (NodeLostAt), then the Engine end to
// end: a node the managers mark down whose agent fell silent has its
// addresses closed NODE_LOST, and a client elsewhere still writing to one
// is a VANISHED_PEER; a silent agent alone (restart, short partition)
// closes nothing and changes no finding.
#include "aggregator/node_loss.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/engine.h"
#include "aggregator/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::fakes::InMemoryHistoryStore;
using testing::Attach;
using testing::Batch;
using testing::Container;
using testing::Detach;
using testing::FakeClock;
using testing::Full;
using testing::HelloFrom;
using testing::Inventory;
using testing::Recorder;
using testing::Socket;
using testing::SocketSpec;
using testing::T;

v1::SwarmNode SwarmNode(const std::string& hostname, v1::SwarmNodeState state,
                        std::optional<absl::Time> since = std::nullopt) {
  v1::SwarmNode node;
  node.set_id(hostname + "-id");
  node.set_hostname(hostname);
  node.set_state(state);
  if (since) *node.mutable_state_since() = ToProto(*since);
  return node;
}

TEST(NodeLostAtTest, Rules) {
  struct Case {
    std::string name;
    v1::SwarmNode node;
    AgentPresence agent;
    absl::Time now;
    std::optional<absl::Time> want;
  };
  const AgentPresence silent_since_5{T(5), T(4)};
  const std::vector<Case> cases = {
      {"down and silent: closed when marked down",
       SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(18)), silent_since_5, T(20),
       T(18)},
      {"down, silent for less than the silence: not yet",
       SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(18)), silent_since_5,
       T(19.9), std::nullopt},
      {"silent but ready (agent restart, short partition): never",
       SwarmNode("n", v1::SWARM_NODE_STATE_READY, T(18)), silent_since_5,
       T(600), std::nullopt},
      {"unknown and disconnected are not down",
       SwarmNode("n", v1::SWARM_NODE_STATE_DISCONNECTED, T(18)), silent_since_5,
       T(600), std::nullopt},
      {"down but its agent reports: it holds what it reports",
       SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(18)),
       {T(598), T(597)},
       T(600),
       std::nullopt},
      {"never before the agent's last snapshot",
       SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(1)), silent_since_5, T(20),
       T(4)},
      {"never after now", SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(900)),
       silent_since_5, T(20), T(20)},
      {"no down mark: the observation's time, else now",
       SwarmNode("n", v1::SWARM_NODE_STATE_DOWN), silent_since_5, T(30), T(30)},
  };
  for (const Case& c : cases) {
    ManagersView view{c.node, "manager-1", c.now};
    EXPECT_EQ(NodeLostAt(view, c.agent, c.now, NodeLossOptions{}), c.want)
        << c.name;
  }
  ManagersView observed{SwarmNode("n", v1::SWARM_NODE_STATE_DOWN), "m", T(30)};
  *observed.node.mutable_observed_at() = ToProto(T(25));
  EXPECT_EQ(NodeLostAt(observed, silent_since_5, T(30), NodeLossOptions{}),
            T(25));
}

// What the swarm says about its nodes is validated like everything else a
// node sends: names repaired and bounded, unknown enums unspecified, times
// checked and clamped.
TEST(NodeLossValidationTest, SwarmNodesAreCheckedAndNormalised) {
  ValidationLimits limits;
  auto snapshot_with = [](std::vector<v1::SwarmNode> nodes) {
    v1::SocketSnapshot snapshot = Full(1, T(10), {});
    for (auto& n : nodes) *snapshot.mutable_snapshot()->add_swarm_nodes() = n;
    return snapshot;
  };
  v1::SwarmNode hostile = SwarmNode("bad\x01name", v1::SWARM_NODE_STATE_DOWN,
                                    T(10) + absl::Seconds(30));
  hostile.set_state(static_cast<v1::SwarmNodeState>(42));
  hostile.set_role(static_cast<v1::SwarmNodeRole>(42));
  hostile.set_message("heartbeat\nfailure");
  v1::SocketSnapshot snapshot = snapshot_with({hostile});
  ASSERT_TRUE(ValidateSocketSnapshot(&snapshot, "node-1", T(10), limits).ok());
  const v1::SwarmNode& checked = snapshot.snapshot().swarm_nodes(0);
  EXPECT_EQ(checked.hostname().find('\x01'), std::string::npos);
  EXPECT_EQ(checked.message().find('\n'), std::string::npos);
  EXPECT_EQ(checked.state(), v1::SWARM_NODE_STATE_UNSPECIFIED);
  EXPECT_EQ(checked.role(), v1::SWARM_NODE_ROLE_UNSPECIFIED);
  EXPECT_EQ(FromProto(checked.state_since()), T(10));  // clamped to now

  v1::SocketSnapshot far_ahead = snapshot_with(
      {SwarmNode("n", v1::SWARM_NODE_STATE_DOWN, T(10) + absl::Hours(2))});
  absl::Status refused =
      ValidateSocketSnapshot(&far_ahead, "node-1", T(10), limits);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              ::testing::HasSubstr("swarm_nodes[0].state_since"));

  limits.max_swarm_nodes_per_snapshot = 1;
  v1::SocketSnapshot too_many =
      snapshot_with({SwarmNode("a", v1::SWARM_NODE_STATE_READY),
                     SwarmNode("b", v1::SWARM_NODE_STATE_READY)});
  EXPECT_THAT(
      std::string(
          ValidateSocketSnapshot(&too_many, "node-1", T(10), limits).message()),
      ::testing::HasSubstr("swarm_nodes"));
}

// node-1: a manager, and the client's node. node-2: the server's node.
const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1", "node-2");

// A client whose peer stopped answering: data queued, retransmitting.
v1::SocketRecord Writing(uint32_t queue,
                         const std::string& remote = "10.0.1.6") {
  SocketSpec spec;
  spec.remote_ip = remote;
  spec.send_queue = queue;
  // Last heard an hour before each snapshot: never an answer after its
  // owner left.
  spec.last_ack_recv_ms = 3600000;
  spec.last_data_recv_ms = 3600000;
  spec.unacked = 1;
  spec.backoff = 2;
  return Socket(spec);
}

class NodeLossEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::make_unique<InMemoryHistoryStore>(T(0));
    store_ = store.get();
    EngineOptions options;
    options.clock = &clock_;
    options.retention = absl::Hours(24);
    auto engine = Engine::Open(options, std::move(store));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    engine_->Subscribe(recorder_.Listener());
    ASSERT_TRUE(engine_->Hello(HelloFrom("node-1", "m")).ok());
    ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "s")).ok());
    ASSERT_TRUE(engine_
                    ->IngestAddressEvents("node-2", "s",
                                          Batch({Attach(1, T(1), kServer)}))
                    .ok());
    Report("node-2", "s", {}, T(5));
  }

  // A full snapshot of `node` at `at` (received then), carrying `swarm`.
  void Report(const std::string& node, const std::string& instance,
              std::vector<v1::SocketRecord> sockets, absl::Time at,
              std::vector<v1::SwarmNode> swarm = {}) {
    clock_.Set(at);
    v1::SocketSnapshot snapshot = Full(++snapshot_ids_, at, sockets, node);
    for (auto& n : swarm) *snapshot.mutable_snapshot()->add_swarm_nodes() = n;
    auto ack = engine_->IngestSnapshot(node, instance, snapshot, at);
    ASSERT_TRUE(ack.ok()) << ack.status();
  }

  std::vector<v1::AddressOwner> History(const std::string& address) {
    v1::GetAddressHistoryRequest request;
    request.set_address(address);
    auto response = engine_->GetAddressHistory(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return {response->intervals().begin(), response->intervals().end()};
  }

  std::vector<v1::Finding> Open() {
    v1::ListFindingsRequest request;
    request.set_status(v1::OPEN);
    auto found = engine_->ListFindings(request).findings();
    return {found.begin(), found.end()};
  }

  const v1::NodeStatus* NodeNamed(const v1::ListNodesResponse& nodes,
                                  const std::string& name) {
    for (const auto& n : nodes.nodes()) {
      if (n.node() == name) return &n;
    }
    return nullptr;
  }

  FakeClock clock_{T(0)};
  InMemoryHistoryStore* store_ = nullptr;
  std::unique_ptr<Engine> engine_;
  Recorder recorder_;
  uint64_t snapshot_ids_ = 0;
};

// The measured failure (issue 9): server on node-2, client on node-1;
// node-2's link cut at ~6 s, then the node killed. Swarm marks it down at
// 18 s; node-2's agent last reported at 5 s.
TEST_F(NodeLossEngineTest, NodeDownAndSilentClosesItsAddressesAndPages) {
  const auto ready = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                      SwarmNode("node-2", v1::SWARM_NODE_STATE_READY)};
  Report("node-1", "m", {Writing(0)}, T(10), ready);
  EXPECT_TRUE(Open().empty());

  // The managers say down at 18 s; at 19 s node-2 is silent for 14 s only.
  const auto down = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                     SwarmNode("node-2", v1::SWARM_NODE_STATE_DOWN, T(18))};
  Report("node-1", "m", {Writing(300)}, T(19), down);
  ASSERT_EQ(History("10.0.1.6").size(), 1u);
  EXPECT_FALSE(History("10.0.1.6")[0].has_until());

  // Silent for 15 s: lost. Its holding ends when the managers marked it
  // down, NODE_LOST: a departure decided on two signals, so the client's
  // snapshot with data waiting raises the ghost at once (detector rule 6),
  // this very snapshot (the check runs before its detection).
  Report("node-1", "m", {Writing(720)}, T(20), down);
  std::vector<v1::AddressOwner> history = History("10.0.1.6");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(FromProto(history[0].until()), T(18));
  EXPECT_EQ(history[0].close_reason(), v1::CLOSE_REASON_NODE_LOST);
  std::vector<v1::Finding> open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(FromProto(open[0].first_seen()), T(20));
  Report("node-1", "m", {Writing(1440)}, T(25), down);
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind(), v1::VANISHED_PEER);
  EXPECT_EQ(open[0].severity(), v1::CRITICAL);
  EXPECT_EQ(open[0].socket().node(), "node-1");
  EXPECT_EQ(open[0].peer_last_owner().task(), "gpx-srv.1");
  EXPECT_EQ(open[0].peer_last_owner().node(), "node-2");
  EXPECT_EQ(open[0].peer_last_owner().close_reason(),
            v1::CLOSE_REASON_NODE_LOST);

  // The node table says so.
  const v1::ListNodesResponse nodes = engine_->ListNodes();
  const v1::NodeStatus* node2 = NodeNamed(nodes, "node-2");
  ASSERT_NE(node2, nullptr);
  EXPECT_TRUE(node2->lost());
  EXPECT_EQ(FromProto(node2->lost_at()), T(18));
  EXPECT_EQ(node2->swarm().state(), v1::SWARM_NODE_STATE_DOWN);
  EXPECT_EQ(node2->swarm_reported_by(), "node-1");
  EXPECT_EQ(FromProto(node2->last_contact()), T(5));
  const v1::NodeStatus* node1 = NodeNamed(nodes, "node-1");
  ASSERT_NE(node1, nullptr);
  EXPECT_FALSE(node1->lost());
  EXPECT_EQ(node1->swarm().state(), v1::SWARM_NODE_STATE_READY);

  // Stored: a restarted aggregator shows the same history.
  auto stored = store_->Load();
  ASSERT_TRUE(stored.ok());
  bool found = false;
  for (const OwnershipInterval& interval : stored->intervals) {
    if (interval.owner.address() != "10.0.1.6") continue;
    found = true;
    EXPECT_EQ(interval.until, T(18));
    EXPECT_EQ(interval.close_reason, v1::CLOSE_REASON_NODE_LOST);
  }
  EXPECT_TRUE(found);

  // The node comes back and reports: its inventory reopens what it still
  // holds, the managers call it ready, the client's peer answers again.
  const std::string id = open[0].id();
  ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "s2")).ok());
  clock_.Set(T(40));
  ASSERT_TRUE(engine_
                  ->IngestAddressEvents("node-2", "s2",
                                        Batch({Inventory(1, T(40), {kServer})}))
                  .ok());
  history = History("10.0.1.6");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_FALSE(history[1].has_until());
  EXPECT_EQ(FromProto(history[1].since()), T(40));
  Report("node-2", "s2", {}, T(41));
  Report("node-1", "m", {Writing(0)}, T(45), ready);
  EXPECT_TRUE(Open().empty());
  EXPECT_FALSE(NodeNamed(engine_->ListNodes(), "node-2")->lost());
  // Nothing closed twice.
  EXPECT_EQ(History("10.0.1.6").size(), 2u);
  EXPECT_FALSE(History("10.0.1.6")[1].has_until());
  recorder_.Take();
  EXPECT_FALSE(id.empty());
}

// The wait is measured in the aggregator's time alone: Tick closes a node
// that fell silent after the managers' last report said down.
TEST_F(NodeLossEngineTest, TickClosesOnceTheSilenceIsLongEnough) {
  const auto down = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                     SwarmNode("node-2", v1::SWARM_NODE_STATE_DOWN, T(12))};
  Report("node-1", "m", {}, T(14), down);
  EXPECT_FALSE(History("10.0.1.6")[0].has_until());
  clock_.Set(T(21));
  ASSERT_TRUE(engine_->Tick().ok());
  ASSERT_EQ(History("10.0.1.6").size(), 1u);
  EXPECT_EQ(FromProto(History("10.0.1.6")[0].until()), T(12));
}

// Agent restart and a short partition: the agent is silent, the managers
// keep the node ready. Nothing closes, no finding opens, and an open
// finding keeps its id through the client's own agent restarting.
TEST_F(NodeLossEngineTest, SilentAgentAloneClosesNothingAndFindingsKeepIds) {
  // A genuine ghost first (10.0.1.9's owner left), to watch its id.
  const v1::AddressOwner gone = Container("10.0.1.9", "old.1", "node-2");
  ASSERT_TRUE(engine_
                  ->IngestAddressEvents(
                      "node-2", "s",
                      Batch({Attach(2, T(1), gone), Detach(3, T(2), gone)}))
                  .ok());
  const auto ready = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                      SwarmNode("node-2", v1::SWARM_NODE_STATE_READY)};
  const std::vector<v1::SocketRecord> sockets = {Writing(100),
                                                 Writing(100, "10.0.1.9")};
  Report("node-1", "m", sockets, T(10), ready);
  Report("node-1", "m", sockets, T(15), ready);
  std::vector<v1::Finding> open = Open();
  ASSERT_EQ(open.size(), 1u);
  const std::string id = open[0].id();
  EXPECT_EQ(open[0].socket().remote_ip(), "10.0.1.9");
  recorder_.Take();

  // node-2's agent restarts, or its link drops for a while: silent for ten
  // minutes, the managers still see the node ready.
  engine_->Disconnected("node-2", "s");
  for (int t = 20; t <= 600; t += 20) {
    Report("node-1", "m", sockets, T(t), ready);
    clock_.Set(T(t + 1));
    ASSERT_TRUE(engine_->Tick().ok());
  }
  // The client's agent restarts too: a new instance, a full snapshot.
  engine_->Disconnected("node-1", "m");
  ASSERT_TRUE(engine_->Hello(HelloFrom("node-1", "m2")).ok());
  Report("node-1", "m2", sockets, T(610), ready);

  ASSERT_EQ(History("10.0.1.6").size(), 1u);
  EXPECT_FALSE(History("10.0.1.6")[0].has_until());
  open = Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id(), id);
  EXPECT_EQ(FromProto(open[0].first_seen()), T(15));
  for (const std::string& event : recorder_.Take()) {
    EXPECT_THAT(event, ::testing::StartsWith("UPDATED")) << event;
  }
  EXPECT_FALSE(NodeNamed(engine_->ListNodes(), "node-2")->lost());
}

// The managers call the node down while its agent still reports (its link
// to the managers failed, not to us): what it reports holds.
TEST_F(NodeLossEngineTest, DownButReportingClosesNothing) {
  const auto down = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                     SwarmNode("node-2", v1::SWARM_NODE_STATE_DOWN, T(8))};
  for (int t = 10; t <= 120; t += 5) {
    Report("node-2", "s", {}, T(t));
    Report("node-1", "m", {Writing(100)}, T(t), down);
    ASSERT_TRUE(engine_->Tick().ok());
  }
  ASSERT_EQ(History("10.0.1.6").size(), 1u);
  EXPECT_FALSE(History("10.0.1.6")[0].has_until());
  EXPECT_TRUE(Open().empty());
  EXPECT_FALSE(NodeNamed(engine_->ListNodes(), "node-2")->lost());
}

// A failed write leaves memory as on disk, and the next check retries.
TEST_F(NodeLossEngineTest, AFailedCloseIsUndoneAndRetried) {
  store_->FailNext(InMemoryHistoryStore::Write::kAddressBatch, 1,
                   absl::UnavailableError("disk busy"));
  const auto down = {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
                     SwarmNode("node-2", v1::SWARM_NODE_STATE_DOWN, T(18))};
  Report("node-1", "m", {}, T(21), down);
  EXPECT_FALSE(History("10.0.1.6")[0].has_until());
  EXPECT_FALSE(NodeNamed(engine_->ListNodes(), "node-2")->lost());
  EXPECT_FALSE(engine_->StoreWritable().ok());
  clock_.Set(T(23));
  ASSERT_TRUE(engine_->Tick().ok());
  EXPECT_EQ(FromProto(History("10.0.1.6")[0].until()), T(18));
  EXPECT_TRUE(NodeNamed(engine_->ListNodes(), "node-2")->lost());
}

// A swarm node no agent ever spoke for is listed (its agent is missing),
// and lost like any other once the managers mark it down.
TEST_F(NodeLossEngineTest, NodesWithoutAnAgentAreListed) {
  Report("node-1", "m", {}, T(10),
         {SwarmNode("node-1", v1::SWARM_NODE_STATE_READY),
          SwarmNode("node-2", v1::SWARM_NODE_STATE_READY),
          SwarmNode("node-9", v1::SWARM_NODE_STATE_READY)});
  const v1::ListNodesResponse nodes = engine_->ListNodes();
  ASSERT_EQ(nodes.nodes_size(), 3);
  EXPECT_EQ(nodes.nodes(2).node(), "node-9");
  EXPECT_FALSE(nodes.nodes(2).has_last_contact());
  EXPECT_FALSE(nodes.nodes(2).connected());
  EXPECT_EQ(nodes.nodes(2).swarm().state(), v1::SWARM_NODE_STATE_READY);
  EXPECT_TRUE(nodes.nodes(0).has_last_contact());
}

}  // namespace
}  // namespace ghostpeer::aggregator
