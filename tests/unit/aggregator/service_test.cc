// The Ingest and Query services over a real gRPC server on 127.0.0.1:0,
// with an Engine on an in-memory store.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aggregator/engine.h"
#include "aggregator/server.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

  // A stream whose Hello was acknowledged; null if it was not.
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>>
  OpenAfterHello(grpc::ClientContext* context);

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<AggregatorServer> server_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
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

v1::AgentMessage Outcome(v1::RemediationOutcomeKind kind) {
  v1::AgentMessage message;
  v1::RemediationOutcome* outcome = message.mutable_remediation_outcome();
  outcome->set_order_id("order-1");
  outcome->set_outcome(kind);
  outcome->set_detail("destroyed 10.0.1.11:43322 -> 10.0.1.8:9000\n");
  *outcome->mutable_at() = ToProto(absl::Now());
  return message;
}

std::unique_ptr<
    grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>>
ServiceTest::OpenAfterHello(grpc::ClientContext* context) {
  stub_ = v1::Ingest::NewStub(channel_);
  Bound(context);
  auto stream = stub_->Report(context);
  v1::AggregatorMessage reply;
  if (!stream->Write(Hello()) || !stream->Read(&reply)) return nullptr;
  return stream;
}

// Agents answer remediation orders on the stream (issue 11): the outcome is
// counted and the stream goes on (it needs no ack); the next message is
// acknowledged as usual.
TEST_F(ServiceTest, IngestCountsARemediationOutcomeAndReadsOn) {
  grpc::ClientContext context;
  auto stream = OpenAfterHello(&context);
  ASSERT_NE(stream, nullptr);
  v1::AggregatorMessage reply;
  ASSERT_TRUE(stream->Write(Outcome(v1::REMEDIATION_DESTROYED)));
  ASSERT_TRUE(stream->Write(Outcome(v1::REMEDIATION_REFUSED)));
  v1::AgentMessage snapshot;
  snapshot.mutable_socket_snapshot()->set_snapshot_id(1);
  snapshot.mutable_socket_snapshot()->set_full(true);
  *snapshot.mutable_socket_snapshot()->mutable_snapshot()->mutable_taken_at() =
      ToProto(absl::Now());
  ASSERT_TRUE(stream->Write(snapshot));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.ack().snapshot_id(), 1u);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_TRUE(stream->Finish().ok());
  const EngineCounters counters = engine_->Counters();
  EXPECT_EQ(counters.remediation_outcomes_received[v1::REMEDIATION_DESTROYED],
            1u);
  EXPECT_EQ(counters.remediation_outcomes_received[v1::REMEDIATION_REFUSED],
            1u);
  EXPECT_EQ(counters.messages_rejected, 0u);
}

TEST_F(ServiceTest, IngestRefusesAMalformedRemediationOutcome) {
  const std::vector<std::pair<std::string, v1::AgentMessage>> cases = {
      {"unspecified", Outcome(v1::REMEDIATION_OUTCOME_UNSPECIFIED)},
      {"unknown kind", Outcome(static_cast<v1::RemediationOutcomeKind>(99))},
      {"no order id",
       [] {
         v1::AgentMessage m = Outcome(v1::REMEDIATION_FAILED);
         m.mutable_remediation_outcome()->clear_order_id();
         return m;
       }()},
      {"errno out of range",
       [] {
         v1::AgentMessage m = Outcome(v1::REMEDIATION_FAILED);
         m.mutable_remediation_outcome()->set_error_number(-1);
         return m;
       }()},
      {"detail too long",
       [] {
         v1::AgentMessage m = Outcome(v1::REMEDIATION_FAILED);
         m.mutable_remediation_outcome()->set_detail(std::string(5000, 'x'));
         return m;
       }()},
      {"no time",
       [] {
         v1::AgentMessage m = Outcome(v1::REMEDIATION_FAILED);
         m.mutable_remediation_outcome()->clear_at();
         return m;
       }()},
  };
  uint64_t rejected = 0;
  for (const auto& [name, message] : cases) {
    SCOPED_TRACE(name);
    grpc::ClientContext context;
    auto stream = OpenAfterHello(&context);
    ASSERT_NE(stream, nullptr);
    v1::AggregatorMessage reply;
    ASSERT_TRUE(stream->Write(message));
    EXPECT_FALSE(stream->Read(&reply));
    EXPECT_EQ(stream->Finish().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(engine_->Counters().messages_rejected, ++rejected);
  }
}

using QueryCall =
    std::function<grpc::Status(v1::Query::Stub&, grpc::ClientContext*)>;

// `method` of the stub with `request`, the response dropped.
template <typename Request, typename Response>
QueryCall Unary(grpc::Status (v1::Query::Stub::*method)(grpc::ClientContext*,
                                                        const Request&,
                                                        Response*),
                Request request) {
  return
      [method, request](v1::Query::Stub& stub, grpc::ClientContext* context) {
        Response response;
        return (stub.*method)(context, request, &response);
      };
}

// WatchFindings with `filter`, read to its end.
QueryCall Watch(v1::ListFindingsRequest filter) {
  return [filter](v1::Query::Stub& stub, grpc::ClientContext* context) {
    v1::WatchFindingsRequest request;
    *request.mutable_filter() = filter;
    auto reader = stub.WatchFindings(context, request);
    v1::FindingEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  };
}

v1::ListFindingsRequest Filter(int kind, int min_severity, int status) {
  v1::ListFindingsRequest filter;
  filter.set_kind(static_cast<v1::FindingKind>(kind));
  filter.set_min_severity(static_cast<v1::Severity>(min_severity));
  filter.set_status(static_cast<v1::FindingStatus>(status));
  return filter;
}

v1::ListSocketsRequest Sockets(std::string remote_ip, int state = 0) {
  v1::ListSocketsRequest request;
  request.set_remote_ip(std::move(remote_ip));
  request.set_state(static_cast<v1::TcpState>(state));
  return request;
}

v1::GetAddressHistoryRequest History(std::string address, int64_t seconds,
                                     int32_t nanos) {
  v1::GetAddressHistoryRequest request;
  request.set_address(std::move(address));
  if (seconds != 0 || nanos != 0) {
    request.mutable_at()->set_seconds(seconds);
    request.mutable_at()->set_nanos(nanos);
  }
  return request;
}

struct QueryCase {
  std::string name;
  QueryCall call;
  grpc::StatusCode code;
  std::string error;  // substring of the message
};

// Defect: unknown enum values, a remote_ip that is not an IP and
// out-of-range nanos were answered OK and empty, which reads as "nothing
// found"; ingest already refused the like with INVALID_ARGUMENT.
TEST_F(ServiceTest, QueryRefusesMalformedRequests) {
  using grpc::StatusCode;
  using Stub = v1::Query::Stub;
  constexpr int64_t k2100 = 4102444800;
  const std::vector<QueryCase> cases = {
      {"findings_all", Unary(&Stub::ListFindings, Filter(0, 0, 0)),
       StatusCode::OK, ""},
      {"findings_known_values", Unary(&Stub::ListFindings, Filter(1, 2, 1)),
       StatusCode::OK, ""},
      {"findings_unknown_kind", Unary(&Stub::ListFindings, Filter(99, 0, 0)),
       StatusCode::INVALID_ARGUMENT, "kind: unknown finding kind 99"},
      {"findings_unknown_severity", Unary(&Stub::ListFindings, Filter(0, 7, 0)),
       StatusCode::INVALID_ARGUMENT, "min_severity: unknown severity 7"},
      {"findings_unknown_status", Unary(&Stub::ListFindings, Filter(0, 0, -1)),
       StatusCode::INVALID_ARGUMENT, "status: unknown finding status -1"},
      {"sockets_all", Unary(&Stub::ListSockets, Sockets("")), StatusCode::OK,
       ""},
      {"sockets_mapped_ipv6_peer",
       Unary(&Stub::ListSockets, Sockets("::ffff:10.0.0.1")), StatusCode::OK,
       ""},
      {"sockets_unknown_state", Unary(&Stub::ListSockets, Sockets("", 40)),
       StatusCode::INVALID_ARGUMENT, "state: unknown TCP state 40"},
      {"sockets_peer_not_an_ip", Unary(&Stub::ListSockets, Sockets("10.0.0")),
       StatusCode::INVALID_ARGUMENT,
       "remote_ip: '10.0.0' is not an IP address"},
      {"sockets_peer_with_newline_is_escaped",
       Unary(&Stub::ListSockets, Sockets("1.2.3.4\n[warn] forged")),
       StatusCode::INVALID_ARGUMENT, "'1.2.3.4\\n[warn] forged'"},
      {"history_every_interval",
       Unary(&Stub::GetAddressHistory, History("10.0.1.6", 0, 0)),
       StatusCode::OK, ""},
      {"history_at_valid",
       Unary(&Stub::GetAddressHistory, History("10.0.1.6", k2100, 5)),
       StatusCode::OK, ""},
      {"history_nanos_too_large",
       Unary(&Stub::GetAddressHistory, History("10.0.1.6", k2100, 1000000000)),
       StatusCode::INVALID_ARGUMENT, "at: nanos 1000000000 out of range"},
      {"history_nanos_negative",
       Unary(&Stub::GetAddressHistory, History("10.0.1.6", k2100, -1)),
       StatusCode::INVALID_ARGUMENT, "at: nanos -1 out of range"},
      {"history_seconds_past_year_9999",
       Unary(&Stub::GetAddressHistory, History("10.0.1.6", 253402300800, 0)),
       StatusCode::INVALID_ARGUMENT, "outside years 1 to 9999"},
      {"history_address_not_an_ip",
       Unary(&Stub::GetAddressHistory, History("srv", 0, 0)),
       StatusCode::INVALID_ARGUMENT, "address: 'srv' is not an IP address"},
      {"watch_unknown_kind", Watch(Filter(12, 0, 0)),
       StatusCode::INVALID_ARGUMENT, "kind: unknown finding kind 12"},
  };
  auto stub = v1::Query::NewStub(channel_);
  for (const QueryCase& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::ClientContext context;
    Bound(&context);
    const grpc::Status status = c.call(*stub, &context);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.error));
    EXPECT_THAT(status.error_message(), Not(HasSubstr("\n")));
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator
