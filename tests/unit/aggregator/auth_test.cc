// Bearer tokens, node-bound tokens and ingest limits over the real gRPC
// services on 127.0.0.1:0.
#include "aggregator/auth.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aggregator/engine.h"
#include "aggregator/server.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/agent_stream.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::AgentStream;
using ::testing::HasSubstr;
using testing::HelloFrom;
using ::testing::Not;

constexpr char kClusterToken[] = "cluster-secret";
constexpr char kNode1Token[] = "node-1-secret";
constexpr char kWorkersToken[] = "workers-secret";

struct ParseCase {
  std::string name;
  std::string text;
  std::vector<std::pair<std::string, std::vector<std::string>>> want;
};

class ParseNodeTokensTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseNodeTokensTest, Parses) {
  absl::StatusOr<std::vector<NodeToken>> tokens =
      ParseNodeTokens(GetParam().text);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  std::vector<std::pair<std::string, std::vector<std::string>>> got;
  for (const NodeToken& token : *tokens) {
    got.emplace_back(token.token, token.node_patterns);
  }
  EXPECT_EQ(got, GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Files, ParseNodeTokensTest,
    ::testing::Values(
        ParseCase{
            "OneLine", "tok node-1 node-2\n", {{"tok", {"node-1", "node-2"}}}},
        ParseCase{"CommentsBlankLinesTabs",
                  "# agents of the worker pool\n\n  tok\tworker-*  \n",
                  {{"tok", {"worker-*"}}}},
        ParseCase{"RepeatedTokenGetsEveryPattern",
                  "a n1\nb n2\na n3",
                  {{"a", {"n1", "n3"}}, {"b", {"n2"}}}},
        ParseCase{"Empty", "", {}}),
    [](const ::testing::TestParamInfo<ParseCase>& info) {
      return info.param.name;
    });

TEST(ParseNodeTokensErrorTest, LineWithoutPatternNamesTheLineNotTheToken) {
  absl::StatusOr<std::vector<NodeToken>> tokens =
      ParseNodeTokens("a n1\n  s3cr3t  \n");
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokens.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(tokens.status().message(), Not(HasSubstr("s3cr3t")));
}

TEST(TokenAuthorizerTest, RefusesConfigurationsThatCannotWork) {
  struct Case {
    std::string name;
    std::string cluster;
    std::vector<NodeToken> nodes;
  };
  for (const Case& c : std::vector<Case>{
           {"NoTokenAtAll", "", {}},
           {"NodeTokenIsTheClusterToken", "same", {{"same", {"node-1"}}}},
           {"NodeTokenWithoutPattern", "cluster", {{"tok", {}}}},
           {"EmptyNodeToken", "cluster", {{"", {"node-1"}}}},
       }) {
    EXPECT_EQ(TokenAuthorizer::Create(c.cluster, c.nodes).status().code(),
              absl::StatusCode::kInvalidArgument)
        << c.name;
  }
}

class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options, IngestLimits limits = {}) {
    EngineOptions engine_options;
    engine_options.db_path = ":memory:";
    engine_options.ingest_limits = limits;
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Open(engine_options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    options.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<AggregatorServer>> server =
        AggregatorServer::Start(options, engine_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void StartWithNodeTokens() {
    absl::StatusOr<TokenAuthorizer> tokens = TokenAuthorizer::Create(
        kClusterToken,
        {{kNode1Token, {"node-1"}}, {kWorkersToken, {"worker-*"}}});
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    ServerOptions options;
    options.authorizer = tokens->ForQuery();
    options.ingest_authorizer = tokens->ForIngest();
    options.node_authorizer = tokens->ForNodes();
    Start(options);
  }

  // The status of a Hello as `node` with `token` (and of the stream).
  grpc::Status HelloAs(const std::string& token, const std::string& node) {
    AgentStream stream(channel_, token);
    const bool acked = stream.Hello(node);
    grpc::Status status = stream.Close();
    EXPECT_EQ(acked, status.ok()) << status.error_message();
    return status;
  }

  grpc::Status ListNodesWith(const std::string& token) {
    std::unique_ptr<v1::Query::Stub> stub = v1::Query::NewStub(channel_);
    grpc::ClientContext context;
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::ListNodesResponse response;
    return stub->ListNodes(&context, v1::ListNodesRequest(), &response);
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<AggregatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

struct IngestCase {
  std::string name;
  std::string token;
  std::string node;
  grpc::StatusCode want;
};

class NodeTokenIngestTest : public ServerTest,
                            public ::testing::WithParamInterface<IngestCase> {};

TEST_P(NodeTokenIngestTest, HelloIsAdmittedOnlyAsTheTokensNodes) {
  StartWithNodeTokens();
  const IngestCase& c = GetParam();
  grpc::Status status = HelloAs(c.token, c.node);
  EXPECT_EQ(status.error_code(), c.want) << status.error_message();
  if (c.want == grpc::StatusCode::PERMISSION_DENIED) {
    EXPECT_THAT(status.error_message(), HasSubstr("--node-tokens-file"));
    // Refused before the Engine heard of it.
    EXPECT_EQ(engine_->ListNodes().nodes_size(), 0);
  }
  EXPECT_THAT(status.error_message(), Not(HasSubstr("secret")));
}

INSTANTIATE_TEST_SUITE_P(
    Tokens, NodeTokenIngestTest,
    ::testing::Values(
        IngestCase{"ClusterTokenAsAnyNode", kClusterToken, "node-7",
                   grpc::StatusCode::OK},
        IngestCase{"NodeTokenAsItsNode", kNode1Token, "node-1",
                   grpc::StatusCode::OK},
        IngestCase{"PatternTokenAsAMatchingNode", kWorkersToken, "worker-3",
                   grpc::StatusCode::OK},
        IngestCase{"NodeTokenAsAnotherNode", kNode1Token, "node-2",
                   grpc::StatusCode::PERMISSION_DENIED},
        IngestCase{"NodeTokenAsAPrefixOfItsNode", kNode1Token, "node-10",
                   grpc::StatusCode::PERMISSION_DENIED},
        IngestCase{"PatternTokenOutsideItsPattern", kWorkersToken, "node-1",
                   grpc::StatusCode::PERMISSION_DENIED},
        IngestCase{"UnknownToken", "guessed", "node-1",
                   grpc::StatusCode::UNAUTHENTICATED},
        IngestCase{"NoToken", "", "node-1", grpc::StatusCode::UNAUTHENTICATED}),
    [](const ::testing::TestParamInfo<IngestCase>& info) {
      return info.param.name;
    });

TEST_F(ServerTest, OnlyTheClusterTokenMayQuery) {
  StartWithNodeTokens();
  EXPECT_TRUE(ListNodesWith(kClusterToken).ok());
  grpc::Status node_token = ListNodesWith(kNode1Token);
  EXPECT_EQ(node_token.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(node_token.error_message(), HasSubstr("cluster token"));
  EXPECT_EQ(ListNodesWith("guessed").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServerTest, SingleTokenWithoutNodeTokensWorksAsBefore) {
  ServerOptions options;
  options.authorizer = BearerTokenAuthorizer(kClusterToken);
  Start(options);
  EXPECT_TRUE(HelloAs(kClusterToken, "node-1").ok());
  EXPECT_TRUE(HelloAs(kClusterToken, "node-2").ok());
  EXPECT_TRUE(ListNodesWith(kClusterToken).ok());
  EXPECT_EQ(HelloAs("guessed", "node-1").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListNodesWith("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServerTest, NodePastMaxNodesIsRefusedWhileKnownNodesReport) {
  IngestLimits limits;
  limits.max_nodes = 1;
  Start(ServerOptions(), limits);
  AgentStream known(channel_, "");
  ASSERT_TRUE(known.Hello("node-1"));

  grpc::Status refused = HelloAs("", "node-2");

  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-nodes"));
  EXPECT_TRUE(known.Snapshot("node-1"));
  EXPECT_TRUE(known.Close().ok());
  EXPECT_EQ(
      engine_->Counters()
          .messages_over_limit[static_cast<size_t>(IngestLimit::kMaxNodes)],
      1u);
}

}  // namespace
}  // namespace ghostpeer::aggregator
