// Remediation through the real Ingest service over gRPC on 127.0.0.1:0:
// a confirmed ghost on an agent that acts on orders gets an order on that
// agent's own stream; its answer is recorded and told on the finding;
// dry-run and a refusing agent send nothing; unanswered orders go again on
// reconnect and after a restart.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aggregator/remediation/coordinator.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/support/loopback_aggregator.h"
#include "tests/unit/aggregator/agent_stream.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::LoopbackAggregator;
using ::ghostpeer::testing::LoopbackAggregatorOptions;
using testing::AgentStream;
using testing::Attach;
using testing::Container;
using testing::Delta;
using testing::Detach;
using testing::Full;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::Socket;
using testing::SocketSpec;
using ::testing::StartsWith;
using testing::TempDb;

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");

// `node`'s agent, acting on orders or not, having said hello.
std::unique_ptr<AgentStream> Agent(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& node,
    bool remediation) {
  auto agent = std::make_unique<AgentStream>(channel);
  v1::Hello hello = HelloFrom(node, node + "-agent");
  hello.set_remediation_enabled(remediation);
  if (!remediation) {
    hello.set_remediation_refusal("agent started without --remediation");
  }
  EXPECT_TRUE(agent->Hello(hello));
  return agent;
}

std::optional<v1::Ack> SendSnapshot(AgentStream& agent,
                                    v1::SocketSnapshot snapshot) {
  v1::AgentMessage message;
  *message.mutable_socket_snapshot() = std::move(snapshot);
  return agent.Send(message);
}

std::optional<v1::Ack> SendEvents(AgentStream& agent,
                                  std::vector<v1::AddressEvent> events) {
  v1::AgentMessage message;
  for (v1::AddressEvent& event : events) {
    *message.mutable_address_events()->add_events() = std::move(event);
  }
  return agent.Send(message);
}

class RemediationStreamTest : public ::testing::Test {
 protected:
  void Start(v1::RemediationMode mode, const std::string& db_path = "") {
    LoopbackAggregatorOptions options;
    options.db_path = db_path;
    options.remediation = true;
    options.remediation_options.mode = mode;
    absl::StatusOr<std::unique_ptr<LoopbackAggregator>> started =
        LoopbackAggregator::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    aggregator_ = *std::move(started);
    channel_ = aggregator_->NewChannel();
  }

  // The client's socket on node-1: data waiting to a peer silent for ten
  // minutes, with its kernel cookie.
  static v1::SocketRecord Client(uint32_t queue) {
    SocketSpec spec;
    spec.send_queue = queue;
    spec.unacked = queue > 0 ? 1 : 0;
    spec.backoff = queue > 0 ? 3 : 0;
    spec.last_ack_recv_ms = 600000;
    spec.last_data_recv_ms = 600000;
    v1::SocketRecord socket = Socket(spec);
    socket.set_cookie(0x5eed);
    return socket;
  }

  // node-2's server dies (Docker's die) while `client`'s node-1 writes to
  // it: a confirmed VANISHED_PEER, CRITICAL, judged by the coordinator.
  void OpenGhost(AgentStream& client) {
    const absl::Time now = absl::Now();
    std::unique_ptr<AgentStream> server = Agent(channel_, "node-2", false);
    ASSERT_TRUE(
        SendEvents(*server, {Attach(1, now - absl::Seconds(60), kServer)})
            .has_value());
    ASSERT_TRUE(
        SendSnapshot(client, Full(1, now - absl::Seconds(6), {Client(0)}))
            .has_value());
    v1::AddressOwner died = kServer;
    died.set_close_reason(v1::CLOSE_REASON_CONTAINER_DIED);
    ASSERT_TRUE(SendEvents(*server, {Detach(2, now - absl::Seconds(4), died,
                                            v1::DOCKER_EVENT)})
                    .has_value());
    EXPECT_TRUE(server->Close().ok());
    ASSERT_TRUE(SendSnapshot(client, Delta(2, 1, now - absl::Seconds(1),
                                           {Client(720)}, {}))
                    .has_value());
    // The finding's change is queued by now (before the ack); be sure it
    // was judged.
    aggregator_->remediation()->RunPending();
  }

  std::vector<v1::Remediation> Records() {
    absl::StatusOr<std::vector<v1::Remediation>> records =
        aggregator_->remediation()->List({});
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<v1::Remediation>();
  }

  v1::Finding QueriedFinding() {
    std::unique_ptr<v1::Query::Stub> query = v1::Query::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListFindingsResponse findings;
    EXPECT_TRUE(query->ListFindings(&context, {}, &findings).ok());
    EXPECT_EQ(findings.findings_size(), 1);
    return findings.findings_size() > 0 ? findings.findings(0) : v1::Finding();
  }

  std::unique_ptr<LoopbackAggregator> aggregator_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RemediationStreamTest, AutoOrdersOnTheClientsStreamAndRecords) {
  Start(v1::REMEDIATION_MODE_AUTO);
  std::unique_ptr<AgentStream> client = Agent(channel_, "node-1", true);
  OpenGhost(*client);

  std::optional<v1::RemediationOrder> order = client->NextOrder();
  ASSERT_TRUE(order.has_value());
  const v1::SocketRecord socket = Client(720);
  EXPECT_EQ(order->netns_inode(), socket.netns_inode());
  EXPECT_EQ(order->socket().netns_inode(), socket.netns_inode());
  EXPECT_EQ(order->socket().local_ip(), socket.local_ip());
  EXPECT_EQ(order->socket().local_port(), socket.local_port());
  EXPECT_EQ(order->socket().remote_ip(), "10.0.1.6");
  EXPECT_EQ(order->socket().remote_port(), socket.remote_port());
  EXPECT_EQ(order->socket().inode(), socket.inode());
  EXPECT_EQ(order->cookie(), 0x5eedu);
  EXPECT_EQ(order->peer_ip(), "10.0.1.6");
  EXPECT_FALSE(order->dry_run());
  EXPECT_EQ(order->finding_id(), QueriedFinding().id());

  v1::RemediationOutcome outcome;
  outcome.set_order_id(order->order_id());
  outcome.set_outcome(v1::REMEDIATION_DESTROYED);
  *outcome.mutable_at() = ToProto(absl::Now());
  ASSERT_TRUE(client->Answer(outcome));
  // The stream handles messages in order: once a later message is acked,
  // the outcome is queued.
  ASSERT_TRUE(SendSnapshot(*client, Delta(3, 1, absl::Now(), {Client(720)}, {}))
                  .has_value());
  aggregator_->remediation()->RunPending();

  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id(), order->order_id());
  EXPECT_EQ(records[0].outcome().outcome(), v1::REMEDIATION_DESTROYED);
  EXPECT_THAT(QueriedFinding().remediation(),
              StartsWith("destroyed the socket at"));

  std::unique_ptr<v1::Query::Stub> query = v1::Query::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(query->ListNodes(&context, {}, &nodes).ok());
  ASSERT_GE(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).node(), "node-1");
  EXPECT_TRUE(nodes.nodes(0).remediation_enabled());
  EXPECT_TRUE(client->Close().ok());
}

TEST_F(RemediationStreamTest, DryRunRecordsAndSendsNothing) {
  Start(v1::REMEDIATION_MODE_DRY_RUN);
  std::unique_ptr<AgentStream> client = Agent(channel_, "node-1", true);
  OpenGhost(*client);
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_WOULD_DESTROY);
  // Anything sent would have been queued before this ack.
  ASSERT_TRUE(SendSnapshot(*client, Delta(3, 1, absl::Now(), {Client(900)}, {}))
                  .has_value());
  EXPECT_EQ(client->orders_waiting(), 0u);
  EXPECT_THAT(QueriedFinding().remediation(), StartsWith("would destroy"));
  EXPECT_TRUE(client->Close().ok());
}

TEST_F(RemediationStreamTest, RefusingAgentIsDeclined) {
  Start(v1::REMEDIATION_MODE_AUTO);
  std::unique_ptr<AgentStream> client = Agent(channel_, "node-1", false);
  OpenGhost(*client);
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_DECLINED);
  EXPECT_THAT(records[0].reason(), HasSubstr("without --remediation"));
  ASSERT_TRUE(SendSnapshot(*client, Delta(3, 1, absl::Now(), {Client(900)}, {}))
                  .has_value());
  EXPECT_EQ(client->orders_waiting(), 0u);
  EXPECT_TRUE(client->Close().ok());
}

TEST_F(RemediationStreamTest, UnansweredOrderGoesAgainOnReconnect) {
  Start(v1::REMEDIATION_MODE_AUTO);
  std::string order_id;
  {
    std::unique_ptr<AgentStream> client = Agent(channel_, "node-1", true);
    OpenGhost(*client);
    std::optional<v1::RemediationOrder> order = client->NextOrder();
    ASSERT_TRUE(order.has_value());
    order_id = order->order_id();
    EXPECT_TRUE(client->Close().ok());  // went away without answering
  }
  std::unique_ptr<AgentStream> again = Agent(channel_, "node-1", true);
  std::optional<v1::RemediationOrder> resent = again->NextOrder();
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->order_id(), order_id);
  aggregator_->remediation()->RunPending();
  EXPECT_EQ(Records()[0].attempts(), 2u);
  EXPECT_TRUE(again->Close().ok());
}

TEST_F(RemediationStreamTest, RecordsSurviveARestart) {
  TempDb db("remediation_restart");
  Start(v1::REMEDIATION_MODE_AUTO, db.path());
  std::string order_id;
  {
    std::unique_ptr<AgentStream> client = Agent(channel_, "node-1", true);
    OpenGhost(*client);
    std::optional<v1::RemediationOrder> order = client->NextOrder();
    ASSERT_TRUE(order.has_value());
    order_id = order->order_id();
    EXPECT_TRUE(client->Close().ok());
  }
  ASSERT_TRUE(aggregator_->Restart().ok());
  channel_ = aggregator_->NewChannel();
  std::vector<v1::Remediation> records = Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id(), order_id);
  EXPECT_EQ(records[0].decision(), v1::REMEDIATION_DECISION_ORDERED);
  // Still unanswered: the restarted aggregator sends it again.
  std::unique_ptr<AgentStream> again = Agent(channel_, "node-1", true);
  std::optional<v1::RemediationOrder> resent = again->NextOrder();
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->order_id(), order_id);
  EXPECT_TRUE(again->Close().ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator
