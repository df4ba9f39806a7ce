// The coordinator over a real Engine (in-memory history), a fake agent
// channel and a fake clock: what it decides, sends, records and tells the
// finding, event by event (RunPending/Tick on the test's thread).
#include "aggregator/remediation/coordinator.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator::remediation {
namespace {

using testing::Attach;
using testing::Batch;
using testing::Container;
using testing::Delta;
using testing::Detach;
using testing::FakeClock;
using testing::Full;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::Socket;
using testing::SocketSpec;
using ::testing::StartsWith;
using testing::T;
using testing::TempDb;

// Records what would go on agents' streams; a node is reachable only
// while the test says it is connected.
class FakeAgents final : public AgentChannel {
 public:
  bool SendToNode(const std::string& node,
                  const v1::AggregatorMessage& message) override {
    absl::MutexLock lock(&mu_);
    if (connected_.count(node) == 0) return false;
    sent_[node].push_back(message.remediation_order());
    return true;
  }
  void Connect(const std::string& node) {
    absl::MutexLock lock(&mu_);
    connected_.insert(node);
  }
  void Disconnect(const std::string& node) {
    absl::MutexLock lock(&mu_);
    connected_.erase(node);
  }
  std::vector<v1::RemediationOrder> Take(const std::string& node) {
    absl::MutexLock lock(&mu_);
    return std::exchange(sent_[node], {});
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> connected_;
  std::map<std::string, std::vector<v1::RemediationOrder>> sent_;
};

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");

// The client's socket: data waiting to a peer that stopped answering.
v1::SocketRecord Client(uint32_t queue, uint32_t local_port = 50386,
                        uint64_t inode = 908125) {
  SocketSpec spec;
  spec.send_queue = queue;
  spec.last_ack_recv_ms = 600000;
  spec.last_data_recv_ms = 600000;
  spec.unacked = 1;
  spec.backoff = 3;
  spec.local_port = local_port;
  spec.inode = inode;
  v1::SocketRecord socket = Socket(spec);
  socket.set_cookie(inode + 7);
  return socket;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.db_path = ":memory:";
    options.detector.confirmations = 1;
    options.clock = &clock_;
    options.retention = absl::Hours(1);
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  void StartCoordinator(v1::RemediationMode mode,
                        const std::string& records = ":memory:",
                        RateLimits limits = RateLimits()) {
    coordinator_.reset();
    coordinator_ = NewCoordinator(mode, records, &agents_, limits);
    ASSERT_NE(coordinator_, nullptr);
  }
  // A coordinator on the records at `records`, sending through `agents`.
  std::unique_ptr<Coordinator> NewCoordinator(
      v1::RemediationMode mode, const std::string& records, FakeAgents* agents,
      RateLimits limits = RateLimits()) {
    CoordinatorOptions options;
    options.mode = mode;
    options.clock = &clock_;
    options.rate_limits = limits;
    options.retention = absl::Hours(1);
    absl::StatusOr<std::unique_ptr<RecordStore>> store =
        SqliteRecordStore::Open(records);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<Coordinator>> coordinator =
        Coordinator::Create(options, engine_.get(), *std::move(store));
    EXPECT_TRUE(coordinator.ok()) << coordinator.status();
    if (!coordinator.ok()) return nullptr;
    (*coordinator)->Attach(agents);
    return *std::move(coordinator);
  }

  // node-1's agent (remediation as `enabled`) and node-2's; the server on
  // node-2 vanishes while node-1's client writes to it: an open, CRITICAL
  // VANISHED_PEER finding at T(20), then judged.
  // `connected`: node-1 has a stream when the finding is judged.
  void OpenGhost(bool enabled = true,
                 std::vector<v1::SocketRecord> sockets = {Client(720)},
                 bool connected = true) {
    v1::Hello hello = HelloFrom("node-1", "cli-agent");
    hello.set_remediation_enabled(enabled);
    if (!enabled) hello.set_remediation_refusal("agent started without it");
    ASSERT_TRUE(engine_->Hello(hello).ok());
    ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "srv-agent")).ok());
    if (connected) agents_.Connect("node-1");
    clock_.Set(T(10));
    ASSERT_TRUE(engine_
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(1), kServer)}))
                    .ok());
    clock_.Set(T(15));
    std::vector<v1::SocketRecord> quiet;
    for (v1::SocketRecord socket : sockets) {
      socket.set_send_queue(0);
      quiet.push_back(socket);
    }
    ASSERT_TRUE(engine_
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(1, T(15), quiet), T(15))
                    .ok());
    clock_.Set(T(18));
    v1::AddressOwner died = kServer;
    died.set_close_reason(v1::CLOSE_REASON_CONTAINER_DIED);
    ASSERT_TRUE(engine_
                    ->IngestAddressEvents(
                        "node-2", "srv-agent",
                        Batch({Detach(2, T(18), died, v1::DOCKER_EVENT)}))
                    .ok());
    clock_.Set(T(20));
    ASSERT_TRUE(engine_
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Delta(2, 1, T(20), sockets, {}), T(20))
                    .ok());
    ASSERT_EQ(engine_->ListFindings({}).findings_size(),
              static_cast<int>(sockets.size()));
    coordinator_->RunPending();
  }

  v1::Finding TheFinding() {
    v1::ListFindingsResponse findings = engine_->ListFindings({});
    EXPECT_EQ(findings.findings_size(), 1);
    return findings.findings_size() > 0 ? findings.findings(0) : v1::Finding();
  }
  std::vector<v1::Remediation> Records() {
    absl::StatusOr<std::vector<v1::Remediation>> records =
        coordinator_->List({});
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<v1::Remediation>();
  }
  uint64_t Counted(RemediationMetric metric, v1::RemediationMode mode) {
    return engine_->Counters().remediations[static_cast<size_t>(metric)][mode];
  }
  v1::RemediationOutcome Outcome(const std::string& order_id,
                                 v1::RemediationOutcomeKind kind) {
    v1::RemediationOutcome outcome;
    outcome.set_order_id(order_id);
    outcome.set_outcome(kind);
    outcome.set_detail("done");
    *outcome.mutable_at() = ToProto(clock_.Now());
    return outcome;
  }

  FakeClock clock_{T(0)};
  std::unique_ptr<Engine> engine_;
  FakeAgents agents_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, AutoOrdersOnceAndRecordsTheOutcome) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  OpenGhost();
  const v1::Finding finding = TheFinding();
  std::vector<v1::RemediationOrder> orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  const v1::RemediationOrder& order = orders[0];
  EXPECT_EQ(order.finding_id(), finding.id());
  EXPECT_EQ(order.netns_inode(), 4026532625u);
  EXPECT_EQ(order.socket().inode(), 908125u);
  EXPECT_EQ(order.socket().local_port(), 50386u);
  EXPECT_EQ(order.socket().remote_ip(), "10.0.1.6");
  EXPECT_EQ(order.cookie(), 908125u + 7);
  EXPECT_EQ(order.peer_ip(), "10.0.1.6");
  EXPECT_FALSE(order.dry_run());
  EXPECT_THAT(finding.remediation(), StartsWith("ordered the socket"));

  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id(), order.order_id());
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_ORDERED);
  EXPECT_EQ(records[0].mode(), v1::REMEDIATION_MODE_AUTO);
  EXPECT_EQ(records[0].requested_by(), "policy");
  EXPECT_EQ(records[0].attempts(), 1u);
  EXPECT_EQ(records[0].service(), "gpx-cli");

  // The queue grows (UPDATED), and the summary's own UPDATED comes back:
  // neither decides again.
  clock_.Set(T(25));
  ASSERT_TRUE(engine_
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(3, 1, T(25), {Client(1440)}, {}),
                                   T(25))
                  .ok());
  coordinator_->RunPending();
  EXPECT_TRUE(agents_.Take("node-1").empty());
  EXPECT_EQ(Records().size(), 1u);

  clock_.Set(T(26));
  coordinator_->OutcomeReceived(
      "node-1", Outcome(order.order_id(), v1::REMEDIATION_DESTROYED));
  coordinator_->RunPending();
  records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome().outcome(), v1::REMEDIATION_DESTROYED);
  EXPECT_EQ(FromProto(records[0].outcome_received_at()), T(26));
  EXPECT_THAT(TheFinding().remediation(),
              StartsWith("destroyed the socket at 08:00:26 (policy, auto)"));
  EXPECT_EQ(Counted(RemediationMetric::kDestroyed, v1::REMEDIATION_MODE_AUTO),
            1u);

  // The agent's answer to a replay counts once.
  coordinator_->OutcomeReceived(
      "node-1", Outcome(order.order_id(), v1::REMEDIATION_DESTROYED));
  coordinator_->RunPending();
  EXPECT_EQ(Counted(RemediationMetric::kDestroyed, v1::REMEDIATION_MODE_AUTO),
            1u);
}

TEST_F(CoordinatorTest, SummaryReachesListenersAndSurvivesSnapshots) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  std::vector<std::string> summaries;
  absl::Mutex mu;
  const int id = engine_->Subscribe([&](const v1::FindingEvent& event) {
    absl::MutexLock lock(&mu);
    if (event.type() == v1::UPDATED) {
      summaries.push_back(event.finding().remediation());
    }
  });
  OpenGhost();
  {
    absl::MutexLock lock(&mu);
    ASSERT_FALSE(summaries.empty());
    EXPECT_THAT(summaries.back(), StartsWith("ordered the socket"));
  }
  clock_.Set(T(25));
  ASSERT_TRUE(engine_
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(3, 1, T(25), {Client(1440)}, {}),
                                   T(25))
                  .ok());
  EXPECT_THAT(TheFinding().remediation(), StartsWith("ordered the socket"));
  engine_->Unsubscribe(id);
}

TEST_F(CoordinatorTest, DryRunRecordsWouldDestroyAndSendsNothing) {
  StartCoordinator(v1::REMEDIATION_MODE_DRY_RUN);
  OpenGhost(/*enabled=*/false);
  EXPECT_TRUE(agents_.Take("node-1").empty());
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_WOULD_DESTROY);
  EXPECT_EQ(records[0].mode(), v1::REMEDIATION_MODE_DRY_RUN);
  EXPECT_EQ(records[0].attempts(), 0u);
  EXPECT_THAT(TheFinding().remediation(), StartsWith("would destroy at"));
  EXPECT_EQ(
      Counted(RemediationMetric::kWouldDestroy, v1::REMEDIATION_MODE_DRY_RUN),
      1u);
  // Ticks send nothing either.
  clock_.Advance(absl::Minutes(2));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_TRUE(agents_.Take("node-1").empty());
}

TEST_F(CoordinatorTest, AgentWithoutRemediationIsDeclined) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  OpenGhost(/*enabled=*/false);
  EXPECT_TRUE(agents_.Take("node-1").empty());
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_DECLINED);
  EXPECT_THAT(records[0].reason(), HasSubstr("agent started without it"));
  EXPECT_THAT(TheFinding().remediation(), StartsWith("not remediated"));
  EXPECT_EQ(Counted(RemediationMetric::kDeclined, v1::REMEDIATION_MODE_AUTO),
            1u);
  // node-1 lists as unable to remediate.
  const v1::ListNodesResponse nodes = engine_->ListNodes();
  for (const v1::NodeStatus& node : nodes.nodes()) {
    if (node.node() != "node-1") continue;
    EXPECT_FALSE(node.remediation_enabled());
    EXPECT_EQ(node.remediation_refusal(), "agent started without it");
  }
}

TEST_F(CoordinatorTest, OffDecidesNothingAndRefusesPeople) {
  StartCoordinator(v1::REMEDIATION_MODE_OFF);
  OpenGhost();
  EXPECT_TRUE(Records().empty());
  absl::StatusOr<v1::Remediation> asked =
      coordinator_->Remediate(TheFinding().id(), false, "manual: alice");
  EXPECT_EQ(asked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(asked.status().message(), HasSubstr("--remediation off"));
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].requested_by(), "manual: alice");
  EXPECT_TRUE(agents_.Take("node-1").empty());
}

TEST_F(CoordinatorTest, PersonActsUnderDryRunAndCanAskForADryRun) {
  StartCoordinator(v1::REMEDIATION_MODE_DRY_RUN);
  OpenGhost();
  const std::string id = TheFinding().id();

  absl::StatusOr<v1::Remediation> dry =
      coordinator_->Remediate(id, /*dry_run=*/true, "manual: alice");
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->decision(), v1::REMEDIATION_DECISION_WOULD_DESTROY);
  std::vector<v1::RemediationOrder> orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_TRUE(orders[0].dry_run());

  absl::StatusOr<v1::Remediation> real =
      coordinator_->Remediate(id, /*dry_run=*/false, "manual: alice");
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(real->decision(), v1::REMEDIATION_DECISION_ORDERED);
  EXPECT_EQ(real->mode(), v1::REMEDIATION_MODE_DRY_RUN);
  orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_FALSE(orders[0].dry_run());
  // Asking again while that order is out returns it, sends nothing.
  absl::StatusOr<v1::Remediation> again =
      coordinator_->Remediate(id, false, "manual: bob");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id(), real->id());
  EXPECT_TRUE(agents_.Take("node-1").empty());

  EXPECT_EQ(coordinator_->Remediate("nope", false, "manual: x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, OutcomesOnlyFromTheNodeOrderedAndForKnownOrders) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  OpenGhost();
  std::vector<v1::RemediationOrder> orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  coordinator_->OutcomeReceived(
      "node-2", Outcome(orders[0].order_id(), v1::REMEDIATION_DESTROYED));
  coordinator_->OutcomeReceived("node-1",
                                Outcome("made-up", v1::REMEDIATION_DESTROYED));
  coordinator_->RunPending();
  EXPECT_EQ(coordinator_->foreign_outcomes(), 2u);
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].has_outcome());
  EXPECT_EQ(Counted(RemediationMetric::kDestroyed, v1::REMEDIATION_MODE_AUTO),
            0u);
}

TEST_F(CoordinatorTest, ResendsOnReconnectAndTimeoutThenGivesUp) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  // Decided while node-1 has no stream: recorded, not sent.
  OpenGhost(true, {Client(720)}, /*connected=*/false);
  EXPECT_TRUE(agents_.Take("node-1").empty());
  ASSERT_EQ(Records().size(), 1u);
  EXPECT_EQ(Records()[0].attempts(), 0u);
  EXPECT_THAT(TheFinding().remediation(), HasSubstr("waiting for node"));
  clock_.Set(T(21));
  coordinator_->NodeConnected("node-1", v1::Hello());
  coordinator_->RunPending();
  EXPECT_TRUE(agents_.Take("node-1").empty());  // not connected
  agents_.Connect("node-1");
  coordinator_->NodeConnected("node-1", v1::Hello());
  coordinator_->RunPending();
  std::vector<v1::RemediationOrder> resent = agents_.Take("node-1");
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(Records()[0].attempts(), 1u);
  EXPECT_EQ(resent[0].order_id(), Records()[0].id());

  // Unanswered: sent again after resend_after (30 s), up to max_attempts.
  clock_.Set(T(40));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_TRUE(agents_.Take("node-1").empty());  // 19 s: not yet
  clock_.Set(T(52));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_EQ(agents_.Take("node-1").size(), 1u);
  EXPECT_EQ(Records()[0].attempts(), 2u);
  clock_.Set(T(83));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_EQ(agents_.Take("node-1").size(), 1u);
  EXPECT_EQ(Records()[0].attempts(), 3u);
  clock_.Set(T(120));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_TRUE(agents_.Take("node-1").empty());
  EXPECT_THAT(Records()[0].reason(), HasSubstr("no answer after 3 sends"));
  EXPECT_THAT(TheFinding().remediation(),
              HasSubstr("not carried out: writing to vanished 10.0.1.6; no "
                        "answer after 3 sends"));
  coordinator_->NodeConnected("node-1", v1::Hello());
  coordinator_->RunPending();
  EXPECT_TRUE(agents_.Take("node-1").empty());
}

TEST_F(CoordinatorTest, RateLimitHoldsBackThenLets) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO,
                   ":memory:", {/*per_node_per_minute=*/1, /*per_minute=*/100});
  OpenGhost(true, {Client(720), Client(900, 50400, 908200)});
  std::vector<v1::RemediationOrder> orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  coordinator_->OutcomeReceived(
      "node-1", Outcome(orders[0].order_id(), v1::REMEDIATION_DESTROYED));
  coordinator_->RunPending();
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 2u);
  int limited = 0;
  for (const v1::Remediation& r : records) {
    if (r.decision() == v1::REMEDIATION_DECISION_RATE_LIMITED) {
      ++limited;
      EXPECT_THAT(r.reason(),
                  HasSubstr("--remediation-max-per-node-per-minute"));
    }
  }
  EXPECT_EQ(limited, 1);
  EXPECT_EQ(Counted(RemediationMetric::kRateLimited, v1::REMEDIATION_MODE_AUTO),
            1u);
  // Still limited: nothing new recorded.
  clock_.Set(T(30));
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_EQ(Records().size(), 2u);
  // A minute later a token is back; node-1 reports again (its report must
  // be fresh), and the held-back finding is ordered.
  ASSERT_TRUE(
      engine_
          ->IngestSnapshot(
              "node-1", "cli-agent",
              Delta(3, 1, T(80), {Client(720), Client(900, 50400, 908200)}, {}),
              T(80))
          .ok());
  clock_.Set(T(81));
  coordinator_->RunPending();
  ASSERT_TRUE(coordinator_->Tick().ok());
  EXPECT_EQ(agents_.Take("node-1").size(), 1u);
  EXPECT_EQ(Records().size(), 3u);
}

TEST_F(CoordinatorTest, StaleNodeReportIsDeclinedForPeople) {
  StartCoordinator(v1::REMEDIATION_MODE_DRY_RUN);
  OpenGhost();
  clock_.Set(T(60));  // 40 s after node-1's last report, interval 5 s
  absl::StatusOr<v1::Remediation> asked =
      coordinator_->Remediate(TheFinding().id(), false, "manual: alice");
  EXPECT_EQ(asked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(asked.status().message(), HasSubstr("3 report intervals"));
  EXPECT_TRUE(agents_.Take("node-1").empty());
}

TEST_F(CoordinatorTest, ServiceLabelOffWins) {
  StartCoordinator(v1::REMEDIATION_MODE_AUTO);
  // A manager's report with the client's service labelled off.
  ASSERT_TRUE(engine_->Hello(HelloFrom("manager-1", "mgr-agent")).ok());
  v1::SocketSnapshot manager = Full(1, T(5), {}, "manager-1");
  manager.mutable_snapshot()->add_swarm_nodes()->set_hostname("node-1");
  (*manager.mutable_snapshot()->mutable_service_remediation())["gpx-cli"] =
      "off";
  clock_.Set(T(5));
  ASSERT_TRUE(
      engine_->IngestSnapshot("manager-1", "mgr-agent", manager, T(5)).ok());
  EXPECT_EQ(engine_->ServiceRemediationLabel("gpx-cli"), "off");
  OpenGhost();
  EXPECT_TRUE(agents_.Take("node-1").empty());
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_DECLINED);
  EXPECT_EQ(records[0].mode(), v1::REMEDIATION_MODE_OFF);
  EXPECT_THAT(records[0].reason(), HasSubstr("ghostpeer.remediation=off"));
}

// Two replicas sharing the records and one view of the findings (issue
// 12), both started before the finding: both judge it, one decision and
// one order result. The replica serving node-1 dies with the order
// unanswered; node-1 reconnects to the other, which finds the order in the
// store and sends it again.
TEST_F(CoordinatorTest, ReplicasSharingRecordsOrderOnceAndTheSurvivorResends) {
  TempDb db("coordinator_replicas");
  const std::string records_path = RecordStorePath(db.path());
  StartCoordinator(v1::REMEDIATION_MODE_AUTO, records_path);
  FakeAgents other_agents;
  std::unique_ptr<Coordinator> other =
      NewCoordinator(v1::REMEDIATION_MODE_AUTO, records_path, &other_agents);
  ASSERT_NE(other, nullptr);

  OpenGhost();  // this replica judges first, and orders
  other->RunPending();
  std::vector<v1::RemediationOrder> orders = agents_.Take("node-1");
  ASSERT_EQ(orders.size(), 1u);
  absl::StatusOr<std::vector<v1::Remediation>> records = other->List({});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().decision(), v1::REMEDIATION_DECISION_ORDERED);

  coordinator_.reset();
  clock_.Set(T(22));
  other_agents.Connect("node-1");
  other->NodeConnected("node-1", v1::Hello());
  other->RunPending();
  std::vector<v1::RemediationOrder> resent = other_agents.Take("node-1");
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0].order_id(), orders[0].order_id());
  records = other->List({});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().attempts(), 2u);
}

TEST_F(CoordinatorTest, RestartKeepsRecordsAndDoesNotDecideAgain) {
  TempDb db("coordinator_restart");
  const std::string records_path = RecordStorePath(db.path());
  StartCoordinator(v1::REMEDIATION_MODE_AUTO, records_path);
  OpenGhost(true, {Client(720)}, /*connected=*/false);
  EXPECT_TRUE(agents_.Take("node-1").empty());
  const std::string order_id = Records()[0].id();

  StartCoordinator(v1::REMEDIATION_MODE_AUTO, records_path);
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id(), order_id);
  // The finding changes again: the restarted coordinator remembers it
  // ordered already.
  clock_.Set(T(25));
  ASSERT_TRUE(engine_
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(3, 1, T(25), {Client(1440)}, {}),
                                   T(25))
                  .ok());
  coordinator_->RunPending();
  EXPECT_EQ(Records().size(), 1u);
  // The unanswered order goes when the node reconnects.
  agents_.Connect("node-1");
  coordinator_->NodeConnected("node-1", v1::Hello());
  coordinator_->RunPending();
  std::vector<v1::RemediationOrder> resent = agents_.Take("node-1");
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0].order_id(), order_id);
}

TEST_F(CoordinatorTest, RecordsPastRetentionArePurgedButNotAwaitedOrders) {
  StartCoordinator(v1::REMEDIATION_MODE_DRY_RUN);
  OpenGhost();
  ASSERT_TRUE(coordinator_->Remediate(TheFinding().id(), false, "manual: a")
                  .ok());  // an order, never answered
  ASSERT_EQ(Records().size(), 2u);
  clock_.Set(T(20) + absl::Hours(2));  // retention is 1 h
  ASSERT_TRUE(coordinator_->Tick().ok());
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_ORDERED);
}

TEST(SummarizeTest, SaysWhatWasDoneInOneLine) {
  StoredRemediation stored;
  stored.awaiting = true;
  v1::Remediation& record = stored.record;
  record.set_node("node-1");
  record.set_requested_by("manual: alice");
  record.set_mode(v1::REMEDIATION_MODE_DRY_RUN);
  record.set_decision(v1::REMEDIATION_DECISION_ORDERED);
  *record.mutable_decided_at() = ToProto(T(3));
  EXPECT_EQ(Summarize(stored),
            "ordered the socket destroyed at 08:00:03 (manual: alice, "
            "dry-run); waiting for node node-1's agent");
  record.mutable_outcome()->set_outcome(v1::REMEDIATION_FAILED);
  record.mutable_outcome()->set_detail("no\nnewline");
  record.mutable_outcome()->set_error_number(1);
  *record.mutable_outcome_received_at() = ToProto(T(4));
  const std::string failed = Summarize(stored);
  EXPECT_THAT(failed, StartsWith("destroying failed at 08:00:04"));
  EXPECT_THAT(failed, HasSubstr("(errno 1)"));
  EXPECT_EQ(failed.find('\n'), std::string::npos);
  record.mutable_outcome()->set_detail(std::string(5000, 'x'));
  EXPECT_LT(Summarize(stored).size(), 400u);
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation
