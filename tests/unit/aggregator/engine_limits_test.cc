// IngestLimits: what one client can make the Engine hold (issue 8).
#include <string>
#include <vector>

#include "aggregator/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Delta;
using testing::FakeClock;
using testing::Full;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::Socket;
using testing::SocketSpec;
using testing::T;

// `count` distinct sockets, the first one numbered `first`.
std::vector<v1::SocketRecord> Sockets(int count, int first = 0) {
  std::vector<v1::SocketRecord> sockets;
  for (int i = first; i < first + count; ++i) {
    SocketSpec spec;
    spec.local_port = 40000 + i;
    spec.inode = 100000 + i;
    sockets.push_back(Socket(spec));
  }
  return sockets;
}

class EngineLimitsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> OpenEngine(const IngestLimits& limits) {
    EngineOptions options;
    options.db_path = ":memory:";
    options.clock = &clock_;
    options.retention = absl::Hours(1);
    options.node_stale_after = absl::Minutes(5);
    options.ingest_limits = limits;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  absl::Status Report(Engine& engine, const std::string& node,
                      v1::SocketSnapshot snapshot) {
    return engine
        .IngestSnapshot(node, node + "-agent", std::move(snapshot),
                        clock_.Now())
        .status();
  }

  static int SocketsOf(const Engine& engine, const std::string& node) {
    v1::ListSocketsRequest request;
    request.set_node(node);
    return engine.ListSockets(request).sockets_size();
  }

  static std::vector<std::string> NodeNames(const Engine& engine) {
    std::vector<std::string> names;
    const v1::ListNodesResponse nodes = engine.ListNodes();
    for (const v1::NodeStatus& node : nodes.nodes()) {
      names.push_back(node.node());
    }
    return names;
  }

  FakeClock clock_{T(0)};
};

// The serialized size the Engine counts for a 4-socket full snapshot, so
// byte budgets can be set relative to it.
size_t BytesOfFourSockets() {
  FakeClock clock(T(0));
  EngineOptions options;
  options.db_path = ":memory:";
  options.clock = &clock;
  std::unique_ptr<Engine> engine = *Engine::Open(options);
  EXPECT_TRUE(
      engine->IngestSnapshot("node-1", "a", Full(1, T(0), Sockets(4)), T(0))
          .ok());
  return engine->Counters().socket_bytes_held;
}

struct LimitCase {
  std::string name;
  IngestLimits limits;
  // Accepted first: node-1's current state, which must survive.
  v1::SocketSnapshot accepted;
  // Then refused whole.
  std::string refused_node;
  v1::SocketSnapshot refused;
  IngestLimit limit;
  std::string flag;
};

std::vector<LimitCase> LimitCases() {
  const size_t four_sockets = BytesOfFourSockets();
  std::vector<LimitCase> cases;
  {
    LimitCase c;
    c.name = "FullSnapshotOverSocketsPerNode";
    c.limits.max_sockets_per_node = 4;
    c.accepted = Full(1, T(1), Sockets(4));
    c.refused_node = "node-1";
    c.refused = Full(2, T(2), Sockets(5));
    c.limit = IngestLimit::kMaxSocketsPerNode;
    c.flag = "--max-sockets-per-node";
    cases.push_back(c);
  }
  {
    // Each message is small; the view it would make is not.
    LimitCase c;
    c.name = "DeltaGrowingTheViewOverSocketsPerNode";
    c.limits.max_sockets_per_node = 4;
    c.accepted = Full(1, T(1), Sockets(4));
    c.refused_node = "node-1";
    c.refused = Delta(2, 1, T(2), Sockets(1, 10), {});
    c.limit = IngestLimit::kMaxSocketsPerNode;
    c.flag = "--max-sockets-per-node";
    cases.push_back(c);
  }
  {
    LimitCase c;
    c.name = "AnotherNodeOverSocketBytes";
    c.limits.max_socket_bytes = four_sockets * 3 / 2;
    c.accepted = Full(1, T(1), Sockets(4));
    c.refused_node = "node-2";
    c.refused = Full(1, T(2), Sockets(4), "node-2");
    c.limit = IngestLimit::kMaxSocketBytes;
    c.flag = "--max-socket-bytes";
    cases.push_back(c);
  }
  {
    LimitCase c;
    c.name = "OwnDeltaOverSocketBytes";
    c.limits.max_socket_bytes = four_sockets * 3 / 2;
    c.accepted = Full(1, T(1), Sockets(4));
    c.refused_node = "node-1";
    c.refused = Delta(2, 1, T(2), Sockets(4, 10), {});
    c.limit = IngestLimit::kMaxSocketBytes;
    c.flag = "--max-socket-bytes";
    cases.push_back(c);
  }
  {
    LimitCase c;
    c.name = "NewNodeOverMaxNodes";
    c.limits.max_nodes = 1;
    c.accepted = Full(1, T(1), Sockets(4));
    c.refused_node = "node-2";
    c.refused = Full(1, T(2), Sockets(1), "node-2");
    c.limit = IngestLimit::kMaxNodes;
    c.flag = "--max-nodes";
    cases.push_back(c);
  }
  return cases;
}

class EngineLimitCaseTest : public EngineLimitsTest,
                            public ::testing::WithParamInterface<LimitCase> {};

TEST_P(EngineLimitCaseTest, RefusedWholeNamingTheFlagAndCounted) {
  const LimitCase& c = GetParam();
  std::unique_ptr<Engine> engine = OpenEngine(c.limits);
  ASSERT_NE(engine, nullptr);
  clock_.Set(T(2));
  ASSERT_TRUE(Report(*engine, "node-1", c.accepted).ok());
  const uint64_t bytes_before = engine->Counters().socket_bytes_held;

  absl::Status refused = Report(*engine, c.refused_node, c.refused);

  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(c.flag));
  EXPECT_THAT(refused.message(), HasSubstr(c.refused_node));
  EngineCounters counters = engine->Counters();
  for (size_t i = 0; i < kIngestLimitCount; ++i) {
    EXPECT_EQ(counters.messages_over_limit[i],
              i == static_cast<size_t>(c.limit) ? 1u : 0u)
        << IngestLimitName(static_cast<IngestLimit>(i));
  }
  EXPECT_EQ(counters.messages_rejected, 0u);  // not an invalid message
  EXPECT_EQ(counters.socket_bytes_held, bytes_before);
  EXPECT_EQ(SocketsOf(*engine, "node-1"), 4);
  // node-1 goes on: its next full snapshot (no bigger) is taken.
  EXPECT_TRUE(Report(*engine, "node-1", Full(3, T(2), Sockets(4, 20))).ok());
}

INSTANTIATE_TEST_SUITE_P(Limits, EngineLimitCaseTest,
                         ::testing::ValuesIn(LimitCases()),
                         [](const ::testing::TestParamInfo<LimitCase>& info) {
                           return info.param.name;
                         });

TEST_F(EngineLimitsTest, NodeAtTheCapIsRefusedWhileKnownNodesKeepWorking) {
  IngestLimits limits;
  limits.max_nodes = 2;
  std::unique_ptr<Engine> engine = OpenEngine(limits);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "a1")).ok());
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "a2")).ok());

  absl::StatusOr<uint64_t> third = engine->Hello(HelloFrom("node-3", "a3"));

  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("--max-nodes"));
  EXPECT_THAT(NodeNames(*engine), ::testing::ElementsAre("node-1", "node-2"));
  // A known node says hello again (a reconnect) and reports.
  EXPECT_TRUE(engine->Hello(HelloFrom("node-1", "a1")).ok());
  EXPECT_TRUE(engine
                  ->IngestSnapshot("node-1", "a1", Full(1, T(0), Sockets(2)),
                                   clock_.Now())
                  .ok());
  EXPECT_EQ(
      engine->Counters()
          .messages_over_limit[static_cast<size_t>(IngestLimit::kMaxNodes)],
      1u);
}

TEST_F(EngineLimitsTest,
       HelloOnlyNodeIsForgottenAfterStaleAfterFreeingItsPlace) {
  IngestLimits limits;
  limits.max_nodes = 2;
  std::unique_ptr<Engine> engine = OpenEngine(limits);
  ASSERT_NE(engine, nullptr);
  // node-1 reports; node-2 only says hello and keeps its stream open.
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "a1")).ok());
  ASSERT_TRUE(
      engine->IngestSnapshot("node-1", "a1", Full(1, T(0), Sockets(2)), T(0))
          .ok());
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "a2")).ok());

  clock_.Set(T(4 * 60));
  ASSERT_TRUE(engine->Tick().ok());
  EXPECT_THAT(NodeNames(*engine), ::testing::ElementsAre("node-1", "node-2"));
  EXPECT_EQ(engine->Hello(HelloFrom("node-3", "a3")).status().code(),
            absl::StatusCode::kResourceExhausted);

  clock_.Set(T(5 * 60 + 1));
  ASSERT_TRUE(engine->Tick().ok());
  // node-1 is silent as long, but it reported and its stream is open.
  EXPECT_THAT(NodeNames(*engine), ::testing::ElementsAre("node-1"));
  EXPECT_EQ(engine->Counters().agents_connected, 1u);
  EXPECT_TRUE(engine->Hello(HelloFrom("node-3", "a3")).ok());
  // node-2's stream ending later touches nothing.
  engine->Disconnected("node-2", "a2");
  EXPECT_THAT(NodeNames(*engine), ::testing::ElementsAre("node-1", "node-3"));
}

TEST_F(EngineLimitsTest, StaleNodesGiveTheirBytesBack) {
  IngestLimits limits;
  limits.max_socket_bytes = BytesOfFourSockets() * 3 / 2;
  std::unique_ptr<Engine> engine = OpenEngine(limits);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Report(*engine, "node-1", Full(1, T(0), Sockets(4))).ok());
  EXPECT_GT(engine->Counters().socket_bytes_held, 0u);
  ASSERT_EQ(
      Report(*engine, "node-2", Full(1, T(0), Sockets(4), "node-2")).code(),
      absl::StatusCode::kResourceExhausted);

  clock_.Set(T(6 * 60));
  ASSERT_TRUE(engine->Tick().ok());

  EXPECT_EQ(engine->Counters().socket_bytes_held, 0u);
  EXPECT_TRUE(
      Report(*engine, "node-2", Full(1, T(6 * 60), Sockets(4), "node-2")).ok());
}

TEST_F(EngineLimitsTest, ANewAgentInstanceReplacesTheOldViewWithinTheBudget) {
  IngestLimits limits;
  limits.max_socket_bytes = BytesOfFourSockets() * 3 / 2;
  std::unique_ptr<Engine> engine = OpenEngine(limits);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(
      engine->IngestSnapshot("node-1", "old", Full(1, T(0), Sockets(4)), T(0))
          .ok());
  // The old agent's view is released, not added to.
  EXPECT_TRUE(
      engine
          ->IngestSnapshot("node-1", "new", Full(1, T(1), Sockets(4, 10)), T(1))
          .ok());
  EXPECT_EQ(SocketsOf(*engine, "node-1"), 4);
}

}  // namespace
}  // namespace ghostpeer::aggregator
