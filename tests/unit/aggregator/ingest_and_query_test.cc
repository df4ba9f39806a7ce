// The real Ingest and Query services over gRPC on 127.0.0.1:0, with the
// Engine over an in-memory history store: what an agent and an operator
// see on the wire, without root or a database.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/support/loopback_aggregator.h"
#include "tests/unit/aggregator/agent_stream.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::fakes::InMemoryHistoryStore;
using ::ghostpeer::testing::LoopbackAggregator;
using ::ghostpeer::testing::LoopbackAggregatorOptions;
using testing::AgentStream;
using testing::Attach;
using testing::Container;
using testing::Detach;
using testing::Full;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Socket;
using testing::SocketSpec;

using ReportStream =
    grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// Every call ends within kDeadline, so a broken server fails the test
// instead of hanging it.
void Prepare(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
}

v1::AgentMessage HelloMessage(const std::string& node,
                              const std::string& instance) {
  v1::AgentMessage message;
  message.mutable_hello()->set_node(node);
  message.mutable_hello()->set_agent_instance(instance);
  message.mutable_hello()->set_agent_version("0.1.0");
  return message;
}

v1::AgentMessage EventsMessage(std::vector<v1::AddressEvent> events) {
  v1::AgentMessage message;
  for (v1::AddressEvent& event : events) {
    *message.mutable_address_events()->add_events() = std::move(event);
  }
  return message;
}

v1::AgentMessage SnapshotMessage(v1::SocketSnapshot snapshot) {
  v1::AgentMessage message;
  *message.mutable_socket_snapshot() = std::move(snapshot);
  return message;
}

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override { StartAggregator({}); }

  void StartAggregator(LoopbackAggregatorOptions options) {
    stubs_ready_ = false;
    aggregator_.reset();
    absl::StatusOr<std::unique_ptr<LoopbackAggregator>> started =
        LoopbackAggregator::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    aggregator_ = std::move(*started);
    channel_ = aggregator_->NewChannel();
    ingest_ = v1::Ingest::NewStub(channel_);
    query_ = v1::Query::NewStub(channel_);
    stubs_ready_ = true;
  }

  // Event times near the real clock: the Engine refuses events from the
  // future and the services stamp receive times with the real clock.
  absl::Time Ago(absl::Duration d) const { return now_ - d; }

  const absl::Time now_ = absl::Now();
  std::unique_ptr<LoopbackAggregator> aggregator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  bool stubs_ready_ = false;
};

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");
const v1::AddressOwner kCache = Container("10.0.1.7", "gpx-cache.1");

TEST_F(ServicesTest, IngestedHelloEventsAndSnapshotAreQueryableBack) {
  AgentStream server_agent(channel_);
  std::optional<v1::Ack> ack =
      server_agent.Send(HelloMessage("node-2", "srv-agent"));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 0u);  // nothing stored before
  ack = server_agent.Send(
      EventsMessage({Attach(1, Ago(absl::Seconds(60)), kServer),
                     Attach(2, Ago(absl::Seconds(50)), kCache),
                     Detach(3, Ago(absl::Seconds(40)), kCache)}));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 3u);  // an ack means stored
  EXPECT_TRUE(server_agent.Close().ok());

  AgentStream client_agent(channel_);
  ASSERT_TRUE(client_agent.Send(HelloMessage("node-1", "cli-agent")));
  ack = client_agent.Send(
      SnapshotMessage(Full(1, Ago(absl::Seconds(1)), {Socket(SocketSpec())})));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->snapshot_id(), 1u);
  EXPECT_EQ(ack->full_snapshot_id(), 1u);
  EXPECT_FALSE(ack->full_snapshot_required());

  {
    grpc::ClientContext context;
    Prepare(context);
    v1::ListNodesResponse nodes;
    ASSERT_TRUE(query_->ListNodes(&context, {}, &nodes).ok());
    ASSERT_EQ(nodes.nodes_size(), 2);
    EXPECT_EQ(nodes.nodes(0).node(), "node-1");
    EXPECT_TRUE(nodes.nodes(0).connected());  // its stream is still open
    EXPECT_EQ(nodes.nodes(1).node(), "node-2");
    EXPECT_FALSE(nodes.nodes(1).connected());
  }
  {
    grpc::ClientContext context;
    Prepare(context);
    v1::ListSocketsRequest request;
    request.set_remote_ip("10.0.1.6");
    v1::ListSocketsResponse sockets;
    ASSERT_TRUE(query_->ListSockets(&context, request, &sockets).ok());
    ASSERT_EQ(sockets.sockets_size(), 1);
    EXPECT_EQ(sockets.sockets(0).node(), "node-1");
    EXPECT_EQ(sockets.sockets(0).remote_port(), 27017u);
  }
  {
    grpc::ClientContext context;
    Prepare(context);
    v1::GetAddressHistoryRequest request;
    request.set_address("10.0.1.7");
    v1::GetAddressHistoryResponse history;
    ASSERT_TRUE(query_->GetAddressHistory(&context, request, &history).ok());
    ASSERT_EQ(history.intervals_size(), 1);
    EXPECT_EQ(history.intervals(0).task(), "gpx-cache.1");
    EXPECT_EQ(FromProto(history.intervals(0).until()), Ago(absl::Seconds(40)));
  }
  EXPECT_TRUE(client_agent.Close().ok());

  // What was acknowledged is in the store, with its seq.
  absl::StatusOr<StoredState> stored = aggregator_->store()->Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->intervals.size(), 2u);
  ASSERT_EQ(stored->seqs.size(), 1u);
  EXPECT_EQ(stored->seqs[0].seq, 3u);
}

TEST_F(ServicesTest, ReconnectResumesAfterTheStoredSeqAndSkipsReplays) {
  {
    AgentStream agent(channel_);
    ASSERT_TRUE(agent.Send(HelloMessage("node-2", "srv-agent")));
    ASSERT_TRUE(
        agent.Send(EventsMessage({Attach(1, Ago(absl::Seconds(60)), kServer),
                                  Attach(2, Ago(absl::Seconds(50)), kCache)})));
    EXPECT_TRUE(agent.Close().ok());
  }
  AgentStream agent(channel_);
  std::optional<v1::Ack> ack = agent.Send(HelloMessage("node-2", "srv-agent"));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 2u);  // resume after 2
  // An agent that resends 2 (it missed the ack) is acknowledged, not
  // applied twice.
  ack = agent.Send(EventsMessage({Attach(2, Ago(absl::Seconds(50)), kCache),
                                  Detach(3, Ago(absl::Seconds(30)), kCache)}));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 3u);
  EXPECT_TRUE(agent.Close().ok());
  EXPECT_EQ(aggregator_->engine().Counters().address_events_replayed, 1u);

  // Another instance of the same node starts from 0.
  AgentStream restarted(channel_);
  ack = restarted.Send(HelloMessage("node-2", "srv-agent-2"));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 0u);
  EXPECT_TRUE(restarted.Close().ok());
}

TEST_F(ServicesTest, AFailedStoreWriteEndsTheStreamAndAcksNothing) {
  aggregator_->store()->FailNext(InMemoryHistoryStore::Write::kAddressBatch, 1,
                                 absl::UnavailableError("disk on fire"));
  {
    AgentStream agent(channel_);
    ASSERT_TRUE(agent.Send(HelloMessage("node-2", "srv-agent")));
    EXPECT_FALSE(agent.Send(
        EventsMessage({Attach(1, Ago(absl::Seconds(60)), kServer)})));
    grpc::Status status = agent.Close();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr("disk on fire"));
  }
  EXPECT_EQ(aggregator_->engine().Counters().store_errors, 1u);

  // Nothing was acknowledged, so the agent resends on its next stream, and
  // this time it sticks.
  AgentStream agent(channel_);
  std::optional<v1::Ack> ack = agent.Send(HelloMessage("node-2", "srv-agent"));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 0u);
  ack = agent.Send(EventsMessage({Attach(1, Ago(absl::Seconds(60)), kServer)}));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->address_seq(), 1u);
  EXPECT_TRUE(agent.Close().ok());
}

TEST_F(ServicesTest, ProtocolViolationsEndTheStreamWithAClearStatus) {
  struct Case {
    std::string name;
    std::vector<v1::AgentMessage> messages;  // the last one is refused
    grpc::StatusCode code;
    std::string message;
  };
  v1::AgentMessage empty;
  const std::vector<Case> cases = {
      {"events before hello",
       {EventsMessage({Attach(1, Ago(absl::Seconds(1)), kServer)})},
       grpc::StatusCode::FAILED_PRECONDITION,
       "first message of a stream must be hello"},
      {"hello twice",
       {HelloMessage("node-1", "a"), HelloMessage("node-1", "a")},
       grpc::StatusCode::FAILED_PRECONDITION,
       "hello sent twice"},
      {"hello without a node",
       {HelloMessage("", "a")},
       grpc::StatusCode::INVALID_ARGUMENT,
       "node"},
      {"snapshot of another node",
       {HelloMessage("node-1", "a"),
        SnapshotMessage(Full(1, Ago(absl::Seconds(1)), {}, "node-9"))},
       grpc::StatusCode::INVALID_ARGUMENT,
       "node-9"},
      {"empty message",
       {HelloMessage("node-1", "a"), empty},
       grpc::StatusCode::INVALID_ARGUMENT,
       "empty or unknown agent message"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    AgentStream agent(channel_);
    for (size_t i = 0; i + 1 < c.messages.size(); ++i) {
      ASSERT_TRUE(agent.Send(c.messages[i]).has_value());
    }
    EXPECT_FALSE(agent.Send(c.messages.back()).has_value());
    grpc::Status status = agent.Close();
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
  // Nothing of a refused message was stored.
  absl::StatusOr<StoredState> stored = aggregator_->store()->Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->intervals.empty());
  EXPECT_TRUE(stored->seqs.empty());
}

// Bearer tokens, on both services: refused calls say why, never the token.
TEST_F(ServicesTest, BearerTokenGuardsIngestAndQuery) {
  const std::string kToken = "s3cret-token";
  LoopbackAggregatorOptions options;
  options.token = kToken;
  StartAggregator(options);
  ASSERT_TRUE(stubs_ready_);

  struct Case {
    std::string name;
    std::string header;  // empty: no authorization header
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"missing", "", grpc::StatusCode::UNAUTHENTICATED,
       "missing authorization header"},
      {"not bearer", "Basic czNjcmV0", grpc::StatusCode::UNAUTHENTICATED,
       "not a bearer token"},
      {"wrong token", "Bearer s3cret-tokeX", grpc::StatusCode::UNAUTHENTICATED,
       "wrong token"},
      {"empty token", "Bearer ", grpc::StatusCode::UNAUTHENTICATED,
       "wrong token"},
      {"right token", "Bearer " + kToken, grpc::StatusCode::OK, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto prepare = [&](grpc::ClientContext& context) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
      if (!c.header.empty()) context.AddMetadata("authorization", c.header);
    };
    auto check = [&](const grpc::Status& status, absl::string_view service) {
      SCOPED_TRACE(service);
      EXPECT_EQ(status.error_code(), c.code) << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr(c.message));
      EXPECT_THAT(status.error_message(), Not(HasSubstr(kToken)));
    };

    {  // Ingest: the stream ends before its hello is answered.
      grpc::ClientContext context;
      prepare(context);
      std::unique_ptr<ReportStream> stream = ingest_->Report(&context);
      stream->Write(HelloMessage("node-1", "a"));
      v1::AggregatorMessage reply;
      const bool answered = stream->Read(&reply);
      EXPECT_EQ(answered, c.code == grpc::StatusCode::OK);
      stream->WritesDone();
      while (stream->Read(&reply)) {
      }
      check(stream->Finish(), "ingest");
    }
    {  // Query, unary.
      grpc::ClientContext context;
      prepare(context);
      v1::ListNodesResponse nodes;
      check(query_->ListNodes(&context, {}, &nodes), "ListNodes");
    }
    {  // Query, streaming: refused at once, or served until cancelled.
      grpc::ClientContext context;
      prepare(context);
      std::unique_ptr<grpc::ClientReader<v1::FindingEvent>> watch =
          query_->WatchFindings(&context, {});
      if (c.code == grpc::StatusCode::OK) {
        // An admitted watch stays open; a refused one would have ended.
        context.TryCancel();
        v1::FindingEvent event;
        while (watch->Read(&event)) {
        }
        EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
      } else {
        v1::FindingEvent event;
        EXPECT_FALSE(watch->Read(&event));
        check(watch->Finish(), "WatchFindings");
      }
    }
  }
}

}  // namespace
}  // namespace ghostpeer::aggregator
