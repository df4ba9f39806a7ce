// ListSockets across two aggregator replicas on one real PostgreSQL
// database (issue 12), each a real gRPC server on 127.0.0.1 with a peer
// port registered in the `replicas` table: a replica lists the sockets of
// nodes whose agents stream to the other (asked over gRPC with the cluster
// token), keeps such a node in served_elsewhere when the other is gone,
// honours the limit across the merge, and answers another replica's
// question from its own memory only.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregator/auth.h"
#include "aggregator/engine.h"
#include "aggregator/peer_sockets.h"
#include "aggregator/replica_directory.h"
#include "aggregator/server.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/integration/postgres/cluster_environment.h"
#include "tests/support/postgres_cluster.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::PostgresCluster;
using ::testing::ElementsAre;
using testing::Full;
using testing::HelloFrom;
using ::testing::IsEmpty;
using ::testing::Pair;
using testing::Socket;
using testing::SocketSpec;
using testing::T;
using ::testing::UnorderedElementsAre;

PostgresCluster* cluster = nullptr;

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(
        new ::ghostpeer::testing::PostgresClusterEnvironment(&cluster));

constexpr char kToken[] = "cluster-token-for-fanout";

// One aggregator replica: Engine, replica directory, peer client, server.
struct Replica {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ReplicaDirectory> directory;
  std::unique_ptr<GrpcPeerSocketClient> peers;
  std::unique_ptr<AggregatorServer> server;
};

class SocketFanOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int next = 0;
    database_ = absl::StrCat("f", ++next);
    absl::StatusOr<std::string> uri = cluster->CreateDatabase(database_);
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    StartReplica("a:7070", a_);
    StartReplica("b:7070", b_);
    ASSERT_NE(a_.server, nullptr);
    ASSERT_NE(b_.server, nullptr);
    ASSERT_TRUE(Beat(a_).ok());
    ASSERT_TRUE(Beat(b_).ok());
  }

  void StartReplica(const std::string& name, Replica& replica) {
    EngineOptions engine;
    engine.db_path = uri_;
    engine.clock = &clock_;
    engine.replica_name = name;
    engine.retention = absl::Hours(1);
    absl::StatusOr<std::unique_ptr<Engine>> opened = Engine::Open(engine);
    ASSERT_TRUE(opened.ok()) << opened.status();
    replica.engine = *std::move(opened);
    absl::StatusOr<std::unique_ptr<ReplicaDirectory>> directory =
        ReplicaDirectory::Open(uri_, name);
    ASSERT_TRUE(directory.ok()) << directory.status();
    replica.directory = *std::move(directory);
    GrpcPeerSocketClientOptions client;
    client.token = kToken;
    replica.peers = std::make_unique<GrpcPeerSocketClient>(client);
    absl::StatusOr<TokenAuthorizer> tokens =
        TokenAuthorizer::Create(kToken, {});
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    ServerOptions server;
    server.listen = "127.0.0.1:0";
    server.peer_listen = "127.0.0.1:0";
    server.authorizer = tokens->ForQuery();
    server.socket_fan_out = MakeSocketFanOut(
        replica.engine.get(), replica.directory.get(), replica.peers.get());
    absl::StatusOr<std::unique_ptr<AggregatorServer>> started =
        AggregatorServer::Start(server, replica.engine.get());
    ASSERT_TRUE(started.ok()) << started.status();
    replica.server = *std::move(started);
    ASSERT_NE(replica.server->peer_port(), 0);
    ASSERT_NE(replica.server->peer_port(), replica.server->port());
  }

  static absl::Status Beat(Replica& replica) {
    return replica.directory->Heartbeat(
        absl::StrCat("127.0.0.1:", replica.server->peer_port()));
  }

  // `count` sockets of `node` (local ports 1000, 1001, ...) from its agent
  // streaming to `replica`.
  void Stream(Replica& replica, const std::string& node, int count) {
    ASSERT_TRUE(replica.engine->Hello(HelloFrom(node, "agent")).ok());
    std::vector<v1::SocketRecord> sockets;
    for (int i = 0; i < count; ++i) {
      SocketSpec spec;
      spec.local_port = 1000 + i;
      sockets.push_back(Socket(spec));
    }
    ASSERT_TRUE(
        replica.engine
            ->IngestSnapshot(node, "agent", Full(1, T(5), sockets, node), T(5))
            .ok());
  }

  // ListSockets over gRPC at `port` of 127.0.0.1 with `token`, as the CLI
  // asks (or, with `as_peer`, as another replica does).
  static grpc::Status List(int port, const v1::ListSocketsRequest& request,
                           v1::ListSocketsResponse* response,
                           bool as_peer = false,
                           const std::string& token = kToken) {
    std::unique_ptr<v1::Query::Stub> stub = v1::Query::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                            grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    if (as_peer) context.AddMetadata(kPeerQueryHeader, "1");
    return stub->ListSockets(&context, request, response);
  }

  // node:local_port of each record, in order.
  static std::vector<std::string> Listed(
      const v1::ListSocketsResponse& response) {
    std::vector<std::string> listed;
    for (const v1::SocketRecord& record : response.sockets()) {
      listed.push_back(absl::StrCat(record.node(), ":", record.local_port()));
    }
    return listed;
  }

  std::string database_;
  std::string uri_;
  ::ghostpeer::fakes::FakeClock clock_{T(10)};
  Replica a_;
  Replica b_;
};

TEST_F(SocketFanOutTest, AReplicaListsTheSocketsTheOtherHolds) {
  Stream(a_, "node-x", 2);
  ASSERT_TRUE(b_.engine->CatchUp().ok());
  v1::ListSocketsRequest request;
  request.set_node("node-x");
  v1::ListSocketsResponse response;
  grpc::Status status = List(b_.server->port(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Listed(response), ElementsAre("node-x:1000", "node-x:1001"));
  EXPECT_THAT(response.served_elsewhere(), IsEmpty());
  EXPECT_FALSE(response.truncated());
}

TEST_F(SocketFanOutTest, AStoppedReplicaLeavesItsNodeNotedAndNoError) {
  Stream(a_, "node-x", 2);
  Stream(b_, "node-y", 1);
  ASSERT_TRUE(b_.engine->CatchUp().ok());
  a_.server->Shutdown(absl::ZeroDuration());
  // Its row is still fresh: b asks, gets no answer, and says where the
  // sockets are.
  v1::ListSocketsResponse response;
  const absl::Time asked = absl::Now();
  grpc::Status status = List(b_.server->port(), {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(absl::Now() - asked, absl::Seconds(5));
  EXPECT_THAT(Listed(response), ElementsAre("node-y:1000"));
  EXPECT_THAT(response.served_elsewhere(),
              UnorderedElementsAre(Pair("node-x", "a:7070")));
}

TEST_F(SocketFanOutTest, TheLimitHoldsAcrossTheMerge) {
  Stream(a_, "node-a", 3);
  Stream(b_, "node-b", 2);
  ASSERT_TRUE(b_.engine->CatchUp().ok());
  v1::ListSocketsRequest request;
  request.set_limit(4);
  v1::ListSocketsResponse response;
  grpc::Status status = List(b_.server->port(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Listed(response), ElementsAre("node-a:1000", "node-a:1001",
                                            "node-a:1002", "node-b:1000"));
  EXPECT_TRUE(response.truncated());
  EXPECT_THAT(response.served_elsewhere(), IsEmpty());

  request.set_limit(5);
  status = List(b_.server->port(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sockets_size(), 5);
  EXPECT_FALSE(response.truncated());
}

// A replica's question is answered from the asked replica's memory: b,
// asked as a peer about a's node, does not ask a in turn.
TEST_F(SocketFanOutTest, APeerQuestionIsNeverPassedOn) {
  Stream(a_, "node-x", 2);
  ASSERT_TRUE(b_.engine->CatchUp().ok());
  v1::ListSocketsRequest request;
  request.set_node("node-x");
  v1::ListSocketsResponse response;
  grpc::Status status = List(b_.server->peer_port(), request, &response,
                             /*as_peer=*/true);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.sockets(), IsEmpty());
  EXPECT_THAT(response.served_elsewhere(),
              UnorderedElementsAre(Pair("node-x", "a:7070")));
}

// The peer port takes the same token as the main one.
TEST_F(SocketFanOutTest, ThePeerPortWantsTheClusterToken) {
  v1::ListSocketsResponse response;
  EXPECT_EQ(List(a_.server->peer_port(), {}, &response, /*as_peer=*/true,
                 /*token=*/"")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(a_.server->peer_port(), {}, &response, /*as_peer=*/true,
                 /*token=*/"not-the-cluster-token")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

// Rows of replicas silent for longer than kReplicaStaleAfter are not asked.
TEST_F(SocketFanOutTest, AStaleRegistrationIsNotAsked) {
  ASSERT_TRUE(cluster
                  ->Query(database_,
                          "UPDATE replicas SET heard_us = heard_us - 60000000 "
                          "WHERE name = 'a:7070'")
                  .ok());
  ASSERT_TRUE(Beat(b_).ok());
  EXPECT_THAT(b_.directory->PeerAddresses(), IsEmpty());
  ASSERT_TRUE(Beat(a_).ok());
  ASSERT_TRUE(Beat(b_).ok());
  EXPECT_THAT(
      b_.directory->PeerAddresses(),
      UnorderedElementsAre(
          Pair("a:7070", absl::StrCat("127.0.0.1:", a_.server->peer_port()))));
}

}  // namespace
}  // namespace ghostpeer::aggregator
