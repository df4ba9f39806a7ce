// The Ingest service over a real gRPC server on 127.0.0.1:0,
// with an Engine on an in-memory store.
#include <memory>
#include <string>

#include "aggregator/engine.h"
#include "aggregator/server.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator {
namespace {

using ::testing::HasSubstr;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.db_path = ":memory:";
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<AggregatorServer>> server =
        AggregatorServer::Start(server_options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  // Every call gets a deadline: a broken service fails the test, not hang it.
  static void Bound(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<AggregatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

v1::AgentMessage Hello() {
  v1::AgentMessage message;
  message.mutable_hello()->set_node("node-1");
  message.mutable_hello()->set_agent_instance("instance-1");
  return message;
}

TEST_F(ServiceTest, IngestAcksHelloAndEndsOkWhenTheAgentHalfCloses) {
  auto stub = v1::Ingest::NewStub(channel_);
  grpc::ClientContext context;
  Bound(&context);
  auto stream = stub->Report(&context);
  ASSERT_TRUE(stream->Write(Hello()));
  v1::AggregatorMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(reply.has_ack());
  EXPECT_EQ(reply.ack().address_seq(), 0u);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&reply));
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(engine_->Counters().messages_rejected, 0u);
}

// Defect: a process named with bytes that are not UTF-8 made the agent send
// a message the aggregator could not parse; gRPC reported that to the
// service as the end of the stream, which ended with OK and nothing counted.
TEST_F(ServiceTest, IngestRefusesAMessageThatDoesNotParse) {
  v1::AgentMessage hostile;
  v1::SocketSnapshot* snapshot = hostile.mutable_socket_snapshot();
  snapshot->set_snapshot_id(1);
  snapshot->set_full(true);
  // Generated code serializes the bytes as they are (it only logs an error),
  // exactly as the agent did.
  snapshot->mutable_snapshot()->add_sockets()->set_comm("\xff\xfe-evil");
  ASSERT_FALSE(v1::AgentMessage().ParseFromString(hostile.SerializeAsString()))
      << "the test needs a message that does not parse";

  auto stub = v1::Ingest::NewStub(channel_);
  grpc::ClientContext context;
  Bound(&context);
  auto stream = stub->Report(&context);
  ASSERT_TRUE(stream->Write(Hello()));
  v1::AggregatorMessage reply;
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(stream->Write(hostile));
  EXPECT_FALSE(stream->Read(&reply));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("UTF-8"));
  EXPECT_EQ(engine_->Counters().messages_rejected, 1u);
}

}  // namespace
}  // namespace ghostpeer::aggregator
