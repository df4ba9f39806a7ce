// Several aggregators (Engines) on one real PostgreSQL database (issue 12):
// what one replica stores, the others take in (CatchUp, and Hello before it
// answers); history writes are serializable across replicas, interval ids
// never collide; findings travel silently and are evaluated only where the
// node's stream is; a server outage refuses address batches and loses
// nothing acknowledged. The server is private to this program
// (tests/support/postgres_cluster.h), a database per test.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "aggregator/engine.h"
#include "aggregator/history_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/integration/postgres/cluster_environment.h"
#include "tests/support/postgres_cluster.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::PostgresCluster;
using testing::Attach;
using testing::Batch;
using testing::Container;
using testing::Delta;
using testing::Detach;
using testing::Full;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::Recorder;
using testing::Socket;
using testing::Stuck;
using testing::T;

PostgresCluster* cluster = nullptr;

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(
        new ::ghostpeer::testing::PostgresClusterEnvironment(&cluster));

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> next{0};
    database_ = absl::StrCat("r", ++next);
    absl::StatusOr<std::string> uri = cluster->CreateDatabase(database_);
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    a_ = Replica("a:7070");
    b_ = Replica("b:7070");
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  // A replica named `name` on the test's database; all share one clock.
  std::unique_ptr<Engine> Replica(const std::string& name,
                                  int confirmations = 1) {
    EngineOptions options;
    options.db_path = uri_;
    options.clock = &clock_;
    options.replica_name = name;
    options.retention = absl::Hours(1);
    options.detector.confirmations = confirmations;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  std::string Query(const std::string& sql) {
    absl::StatusOr<std::string> answer = cluster->Query(database_, sql);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : "";
  }

  // The seq an ingest or hello acknowledged; 0 (and a failure) on error, so
  // that a refusal fails the test instead of aborting it with the server
  // still running.
  static uint64_t Acked(const absl::StatusOr<uint64_t>& ack) {
    EXPECT_TRUE(ack.ok()) << ack.status();
    return ack.ok() ? *ack : 0;
  }

  static int Intervals(const Engine& engine, const std::string& address,
                       bool open_only) {
    v1::GetAddressHistoryRequest request;
    request.set_address(address);
    absl::StatusOr<v1::GetAddressHistoryResponse> history =
        engine.GetAddressHistory(request);
    EXPECT_TRUE(history.ok()) << history.status();
    if (!history.ok()) return -1;
    int count = 0;
    for (const v1::AddressOwner& owner : history->intervals()) {
      if (!open_only || !owner.has_until()) ++count;
    }
    return count;
  }

  // The server's node (node-2) and the client's (node-1) stream to
  // `engine`.
  static void ConnectAgents(Engine& engine) {
    EXPECT_TRUE(engine.Hello(HelloFrom("node-2", "srv-agent")).ok());
    EXPECT_TRUE(engine.Hello(HelloFrom("node-1", "cli-agent")).ok());
  }

  // On `engine`: the server attached (seq 1) and gone (seq 2) per node-2's
  // agent, then node-1's client still writing to it: one VANISHED_PEER.
  static std::string OpenGhostFinding(Engine& engine) {
    ConnectAgents(engine);
    EXPECT_EQ(Acked(engine.IngestAddressEvents(
                  "node-2", "srv-agent", Batch({Attach(1, T(1), kServer)}))),
              1u);
    EXPECT_TRUE(engine
                    .IngestSnapshot("node-1", "cli-agent",
                                    Full(1, T(15), {Socket(Stuck(0))}), T(15))
                    .ok());
    EXPECT_EQ(Acked(engine.IngestAddressEvents(
                  "node-2", "srv-agent", Batch({Detach(2, T(18), kServer)}))),
              2u);
    EXPECT_TRUE(
        engine
            .IngestSnapshot("node-1", "cli-agent",
                            Delta(2, 1, T(20), {Socket(Stuck(720))}, {}), T(20))
            .ok());
    v1::ListFindingsResponse findings = engine.ListFindings({});
    EXPECT_EQ(findings.findings_size(), 1);
    return findings.findings_size() == 1 ? findings.findings(0).id() : "";
  }

  ::ghostpeer::fakes::FakeClock clock_{T(0)};
  std::string database_;
  std::string uri_;
  // Two replicas on the database, named by their advertised addresses.
  std::unique_ptr<Engine> a_;
  std::unique_ptr<Engine> b_;
};

TEST_F(ReplicasTest, EventsStoredByOneReplicaReachTheOtherAndItsHello) {
  ASSERT_EQ(Acked(a_->Hello(HelloFrom("node-2", "agent"))), 0u);
  clock_.Set(T(10));
  ASSERT_EQ(Acked(a_->IngestAddressEvents("node-2", "agent",
                                          Batch({Attach(1, T(10), kServer)}))),
            1u);
  EXPECT_EQ(Intervals(*b_, "10.0.1.6", false), 0) << "not before a catch-up";
  ASSERT_TRUE(b_->CatchUp().ok());
  EXPECT_EQ(Intervals(*b_, "10.0.1.6", true), 1);

  // The agent fails over to b after a's ack of seq 2: b's Hello answers 2
  // without waiting for its poll.
  ASSERT_EQ(Acked(a_->IngestAddressEvents("node-2", "agent",
                                          Batch({Detach(2, T(12), kServer)}))),
            2u);
  a_->Disconnected("node-2", "agent");
  EXPECT_EQ(Acked(b_->Hello(HelloFrom("node-2", "agent"))), 2u);
  EXPECT_EQ(Intervals(*b_, "10.0.1.6", true), 0);
  // The agent resends what it had not seen acked: a replay on b.
  EXPECT_EQ(Acked(b_->IngestAddressEvents("node-2", "agent",
                                          Batch({Detach(2, T(12), kServer)}))),
            2u);
  EXPECT_EQ(Query("SELECT count(*) FROM intervals"), "1");
}

// The agent of node-3 reports the attach to a, fails over to b and reports
// the departure there before b polled: b merges a's insert first and closes
// it. Without that, b would store a zero-length departure beside a's open
// interval and the address would look held forever.
TEST_F(ReplicasTest, ABatchOnAStaleReplicaIsAppliedOnTheWholeHistory) {
  const v1::AddressOwner owner = Container("10.0.1.9", "c.1", "node-3");
  clock_.Set(T(30));
  ASSERT_EQ(Acked(a_->IngestAddressEvents("node-3", "agent",
                                          Batch({Attach(1, T(10), owner)}))),
            1u);
  ASSERT_EQ(Acked(b_->IngestAddressEvents("node-3", "agent",
                                          Batch({Detach(2, T(20), owner)}))),
            2u);
  EXPECT_EQ(Query("SELECT count(*) FROM intervals WHERE address = "
                  "'10.0.1.9' AND until_us IS NULL"),
            "0");
  EXPECT_EQ(Query("SELECT count(*) FROM intervals"), "1");
  ASSERT_TRUE(a_->CatchUp().ok());
  EXPECT_EQ(Intervals(*a_, "10.0.1.9", true), 0);
  EXPECT_EQ(Intervals(*b_, "10.0.1.9", false), 1);
}

// Two replicas storing at once, then a third after a restart: every
// interval id is distinct (the primary key would refuse a collision, and
// the batch with it), and all were acknowledged.
TEST_F(ReplicasTest, IntervalIdsNeverCollideAcrossReplicasAndRestarts) {
  constexpr int kBatches = 40;
  clock_.Set(T(100));
  std::atomic<int> acked{0};
  auto feed = [&](Engine* engine, const std::string& node) {
    for (int i = 1; i <= kBatches; ++i) {
      const v1::AddressOwner owner =
          Container(absl::StrCat("10.", node == "node-a" ? 1 : 2, ".0.", i),
                    absl::StrCat("c", i), node);
      absl::StatusOr<uint64_t> ack = engine->IngestAddressEvents(
          node, "agent", Batch({Attach(i, T(i), owner)}));
      if (ack.ok() && *ack == static_cast<uint64_t>(i)) ++acked;
    }
  };
  std::thread on_a(feed, a_.get(), "node-a");
  std::thread on_b(feed, b_.get(), "node-b");
  on_a.join();
  on_b.join();
  EXPECT_EQ(acked.load(), 2 * kBatches);
  EXPECT_EQ(Query("SELECT count(DISTINCT id) FROM intervals"),
            absl::StrCat(2 * kBatches));
  a_.reset();
  std::unique_ptr<Engine> restarted = Replica("a:7070");
  ASSERT_NE(restarted, nullptr);
  ASSERT_EQ(
      Acked(restarted->IngestAddressEvents(
          "node-c", "agent",
          Batch({Attach(1, T(100), Container("10.3.0.1", "x", "node-c"))}))),
      1u);
  // Ids grow in commit order, across replicas.
  EXPECT_EQ(Query("SELECT id FROM intervals WHERE address = '10.3.0.1'"),
            Query("SELECT max(id) FROM intervals"));
  EXPECT_EQ(Query("SELECT count(DISTINCT id) FROM intervals"),
            absl::StrCat(2 * kBatches + 1));
}

// A finding opened on a appears on b with its id, and b's listeners (alerts,
// webhooks, watchers) hear nothing of it: a announced it.
TEST_F(ReplicasTest, AFindingTravelsSilentlyToTheOtherReplica) {
  Recorder heard_on_b;
  b_->Subscribe(heard_on_b.Listener());
  const std::string id = OpenGhostFinding(*a_);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(b_->CatchUp().ok());
  v1::ListFindingsResponse on_b = b_->ListFindings({});
  ASSERT_EQ(on_b.findings_size(), 1);
  EXPECT_EQ(on_b.findings(0).id(), id);
  EXPECT_EQ(on_b.findings(0).status(), v1::OPEN);
  EXPECT_TRUE(b_->FindFinding(id).has_value());
  EXPECT_TRUE(heard_on_b.Take().empty());

  // ListNodes on b: the whole cluster, with who serves each node.
  v1::ListNodesResponse nodes = b_->ListNodes();
  ASSERT_EQ(nodes.nodes_size(), 2);
  for (const v1::NodeStatus& node : nodes.nodes()) {
    EXPECT_EQ(node.served_by(), "a:7070") << node.node();
    EXPECT_TRUE(node.connected()) << node.node();
  }
  // Sockets are with a; b says where.
  v1::ListSocketsRequest sockets;
  sockets.set_node("node-1");
  v1::ListSocketsResponse listed = b_->ListSockets(sockets);
  EXPECT_EQ(listed.sockets_size(), 0);
  EXPECT_EQ(listed.served_elsewhere().at("node-1"), "a:7070");
}

// node-1 fails over from a to b: b takes the finding and its detector
// memory from the store, and the next snapshot continues it — never raised
// a second time.
TEST_F(ReplicasTest, AFailedOverNodeContinuesItsFindings) {
  const std::string id = OpenGhostFinding(*a_);
  ASSERT_FALSE(id.empty());
  Recorder heard_on_b;
  b_->Subscribe(heard_on_b.Listener());
  a_->Disconnected("node-1", "cli-agent");
  ASSERT_TRUE(b_->Hello(HelloFrom("node-1", "cli-agent")).ok());
  clock_.Set(T(25));
  ASSERT_TRUE(b_->IngestSnapshot("node-1", "cli-agent",
                                 Full(1, T(25), {Socket(Stuck(900))}), T(25))
                  .ok());
  v1::ListFindingsResponse on_b = b_->ListFindings({});
  ASSERT_EQ(on_b.findings_size(), 1);
  EXPECT_EQ(on_b.findings(0).id(), id);
  EXPECT_EQ(FromProto(on_b.findings(0).first_seen()), T(20));
  for (const std::string& event : heard_on_b.Take()) {
    EXPECT_THAT(event, ::testing::Not(HasSubstr("OPENED")));
  }
  // The socket gone: b resolves it, once, and a learns it.
  clock_.Set(T(30));
  ASSERT_TRUE(
      b_->IngestSnapshot("node-1", "cli-agent", Full(2, T(30), {}), T(30))
          .ok());
  EXPECT_THAT(heard_on_b.Take(),
              ::testing::ElementsAre("CLOSED VANISHED_PEER"));
  ASSERT_TRUE(a_->CatchUp().ok());
  ASSERT_TRUE(a_->FindFinding(id).has_value());
  EXPECT_EQ(a_->FindFinding(id)->status(), v1::RESOLVED);
}

// Silence is judged cluster-wide: b holds no stream of node-1 but a does,
// so b's Tick neither resolves nor forgets its findings, however long it
// has not heard from node-1 itself. Once a's stream ends and the node stays
// silent past retention, b forgets it and resolves its findings silently
// (a served it last).
TEST_F(ReplicasTest, AReplicaNeverResolvesANodeAnotherServes) {
  const std::string id = OpenGhostFinding(*a_);
  ASSERT_FALSE(id.empty());
  Recorder heard_on_b;
  b_->Subscribe(heard_on_b.Listener());
  ASSERT_TRUE(b_->CatchUp().ok());
  clock_.Set(T(20) + absl::Hours(2));  // past retention and staleness
  ASSERT_TRUE(a_->CatchUp().ok());     // a's presence refreshed
  ASSERT_TRUE(b_->CatchUp().ok());
  ASSERT_TRUE(b_->Tick().ok());
  ASSERT_TRUE(b_->FindFinding(id).has_value());
  EXPECT_EQ(b_->FindFinding(id)->status(), v1::OPEN);
  EXPECT_TRUE(heard_on_b.Take().empty());

  a_->Disconnected("node-1", "cli-agent");
  ASSERT_TRUE(b_->CatchUp().ok());
  clock_.Set(T(20) + absl::Hours(4));
  ASSERT_TRUE(b_->Tick().ok());
  EXPECT_FALSE(b_->FindFinding(id).has_value()) << "forgotten";
  EXPECT_TRUE(heard_on_b.Take().empty()) << "a served it last";
}

// A departure Docker reported through a raises the finding on b at the
// first snapshot after it, as it would on a: the close carries its
// evidence (detector.h rule 6), not only its time.
TEST_F(ReplicasTest, AReportedDepartureKeepsItsEvidenceOnTheOtherReplica) {
  std::unique_ptr<Engine> a = Replica("c:7070", /*confirmations=*/2);
  std::unique_ptr<Engine> b = Replica("d:7070", /*confirmations=*/2);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Hello(HelloFrom("node-2", "srv-agent")).ok());
  ASSERT_TRUE(b->Hello(HelloFrom("node-1", "cli-agent")).ok());
  ASSERT_EQ(Acked(a->IngestAddressEvents(
                "node-2", "srv-agent",
                Batch({Attach(1, T(1), kServer, v1::DOCKER_EVENT)}))),
            1u);
  clock_.Set(T(15));
  ASSERT_TRUE(b->IngestSnapshot("node-1", "cli-agent",
                                Full(1, T(15), {Socket(Stuck(0))}), T(15))
                  .ok());
  clock_.Set(T(18));
  ASSERT_EQ(Acked(a->IngestAddressEvents(
                "node-2", "srv-agent",
                Batch({Detach(2, T(18), kServer, v1::DOCKER_EVENT)}))),
            2u);
  ASSERT_TRUE(b->CatchUp().ok());
  clock_.Set(T(21));
  ASSERT_TRUE(b->IngestSnapshot("node-1", "cli-agent",
                                Delta(2, 1, T(21), {Socket(Stuck(720))}, {}),
                                T(21))
                  .ok());
  EXPECT_EQ(b->ListFindings({}).findings_size(), 1);
}

// The server stops mid-run: address batches are refused (not acked; the
// agent keeps them), snapshots and detection go on, queries say the store
// is unreachable. Back up: the resend is stored, the poll catches up, the
// finding opened meanwhile is saved, and the other replica sees it all.
TEST_F(ReplicasTest, AServerOutageRefusesBatchesAndLosesNothingAcked) {
  ConnectAgents(*a_);
  ASSERT_EQ(Acked(a_->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(1), kServer)}))),
            1u);
  ASSERT_TRUE(a_->IngestSnapshot("node-1", "cli-agent",
                                 Full(1, T(15), {Socket(Stuck(0))}), T(15))
                  .ok());

  ASSERT_TRUE(cluster->Stop().ok());
  clock_.Set(T(18));
  const v1::AddressEventBatch departure = Batch({Detach(2, T(18), kServer)});
  absl::StatusOr<uint64_t> refused =
      a_->IngestAddressEvents("node-2", "srv-agent", departure);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
  EXPECT_FALSE(a_->CatchUp().ok());
  const absl::Status readable = a_->StoreReadable();
  EXPECT_EQ(readable.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(readable.message(), HasSubstr("history store postgresql://"));
  EXPECT_THAT(readable.message(), HasSubstr("unreachable since"));
  // Snapshots still land; the server is still held (the departure was
  // refused), so no finding yet — but the socket view moved on.
  ASSERT_TRUE(a_->IngestSnapshot("node-1", "cli-agent",
                                 Delta(2, 1, T(20), {Socket(Stuck(720))}, {}),
                                 T(20))
                  .ok());

  ASSERT_TRUE(cluster->Start().ok());
  // The agent resends from its journal.
  EXPECT_EQ(Acked(a_->IngestAddressEvents("node-2", "srv-agent", departure)),
            2u);
  ASSERT_TRUE(a_->CatchUp().ok());
  EXPECT_TRUE(a_->StoreReadable().ok());
  clock_.Set(T(22));
  ASSERT_TRUE(a_->IngestSnapshot("node-1", "cli-agent",
                                 Delta(3, 1, T(22), {Socket(Stuck(900))}, {}),
                                 T(22))
                  .ok());
  ASSERT_EQ(a_->ListFindings({}).findings_size(), 1);

  ASSERT_TRUE(b_->CatchUp().ok());
  EXPECT_EQ(b_->ListFindings({}).findings_size(), 1);
  EXPECT_EQ(Acked(b_->Hello(HelloFrom("node-2", "srv-agent"))), 2u);
  EXPECT_EQ(Intervals(*b_, "10.0.1.6", true), 0);
}

// A finding whose save failed during the outage is saved by the first
// catch-up after it.
TEST_F(ReplicasTest, FindingsKeptInMemoryDuringAnOutageAreSavedAfter) {
  ConnectAgents(*a_);
  ASSERT_EQ(Acked(a_->IngestAddressEvents(
                "node-2", "srv-agent",
                Batch({Attach(1, T(1), kServer), Detach(2, T(10), kServer)}))),
            2u);
  ASSERT_TRUE(cluster->Stop().ok());
  clock_.Set(T(20));
  ASSERT_TRUE(a_->IngestSnapshot("node-1", "cli-agent",
                                 Full(1, T(20), {Socket(Stuck(720))}), T(20))
                  .ok());
  ASSERT_EQ(a_->ListFindings({}).findings_size(), 1);
  EXPECT_FALSE(a_->CatchUp().ok());
  ASSERT_TRUE(cluster->Start().ok());
  ASSERT_TRUE(a_->CatchUp().ok());
  EXPECT_EQ(Query("SELECT count(*) FROM findings"), "1");
  ASSERT_TRUE(b_->CatchUp().ok());
  EXPECT_EQ(b_->ListFindings({}).findings_size(), 1);
}

}  // namespace
}  // namespace ghostpeer::aggregator
