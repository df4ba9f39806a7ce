// Query.Remediate and Query.ListRemediations over gRPC on 127.0.0.1:0, the
// real QueryService in front of a fake RemediationApi: who may ask, what is
// checked before the coordinator hears of it, what the caller is recorded
// as, and how the coordinator's refusals reach the client.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "aggregator/auth.h"
#include "aggregator/engine.h"
#include "aggregator/query_service.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_remediation_api.h"

namespace ghostpeer::aggregator {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kClusterToken[] = "cluster-secret";
constexpr char kNodeToken[] = "node-1-secret";
constexpr char kFindingId[] = "0123456789abcdef";

class RemediationServiceTest : public ::testing::Test {
 protected:
  // Serves a QueryService over `remediation` (may be null), admitting the
  // cluster token for queries as the aggregator does.
  void Serve(RemediationApi* remediation) {
    EngineOptions options;
    options.db_path = ":memory:";
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    absl::StatusOr<TokenAuthorizer> tokens =
        TokenAuthorizer::Create(kClusterToken, {{kNodeToken, {"node-1"}}});
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    service_ =
        std::make_unique<QueryService>(engine_.get(), tokens->ForQuery(),
                                       kDefaultMaxWatchBacklog, remediation);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::Query::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    }
  }

  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& token = kClusterToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    return context;
  }

  grpc::Status Remediate(const v1::RemediateRequest& request,
                         v1::RemediateResponse* response,
                         const std::string& token = kClusterToken) {
    return stub_->Remediate(Context(token).get(), request, response);
  }

  grpc::Status List(const v1::ListRemediationsRequest& request,
                    v1::ListRemediationsResponse* response,
                    const std::string& token = kClusterToken) {
    return stub_->ListRemediations(Context(token).get(), request, response);
  }

  fakes::FakeRemediationApi fake_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<QueryService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Query::Stub> stub_;
};

v1::RemediateRequest Request(const std::string& id, bool dry_run = false) {
  v1::RemediateRequest request;
  request.set_finding_id(id);
  request.set_dry_run(dry_run);
  return request;
}

TEST_F(RemediationServiceTest, WithoutRemediationBothCallsSaySo) {
  Serve(nullptr);
  v1::RemediateResponse remediated;
  grpc::Status status = Remediate(Request(kFindingId), &remediated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "this aggregator was built without remediation");
  v1::ListRemediationsResponse listed;
  status = List(v1::ListRemediationsRequest(), &listed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(RemediationServiceTest, AsksTheCoordinatorForTheCallerAndAnswers) {
  Serve(&fake_);
  v1::Remediation decided;
  decided.set_id("r-1");
  decided.set_decision(v1::REMEDIATION_DECISION_WOULD_DESTROY);
  fake_.set_remediate_answer(decided);

  v1::RemediateResponse response;
  // Upper case, as a person may retype it: stored ids are lower case.
  grpc::Status status =
      Remediate(Request("0123456789ABCDEF", /*dry_run=*/true), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.remediation().id(), "r-1");
  EXPECT_EQ(response.remediation().decision(),
            v1::REMEDIATION_DECISION_WOULD_DESTROY);

  const auto calls = fake_.remediate_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].finding_id, kFindingId);
  EXPECT_TRUE(calls[0].dry_run);
  // No client certificate: the peer address names the caller.
  EXPECT_THAT(calls[0].requested_by, StartsWith("manual: ipv4:127.0.0.1:"));
  EXPECT_EQ(response.remediation().requested_by(), calls[0].requested_by);
}

TEST_F(RemediationServiceTest, RefusesMalformedFindingIdsBeforeAsking) {
  Serve(&fake_);
  for (const std::string id :
       {"", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg",
        "../../etc/passwd", "0123456789abcde\n"}) {
    v1::RemediateResponse response;
    grpc::Status status = Remediate(Request(id), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_THAT(status.error_message(), HasSubstr("finding_id")) << id;
  }
  EXPECT_TRUE(fake_.remediate_calls().empty());
}

TEST_F(RemediationServiceTest, OnlyTheClusterTokenMayAct) {
  Serve(&fake_);
  struct Case {
    std::string name;
    std::string token;
    grpc::StatusCode want;
  };
  for (const Case& c : std::vector<Case>{
           {"no token", "", grpc::StatusCode::UNAUTHENTICATED},
           {"wrong token", "guess", grpc::StatusCode::UNAUTHENTICATED},
           {"node token", kNodeToken, grpc::StatusCode::PERMISSION_DENIED},
       }) {
    v1::RemediateResponse remediated;
    EXPECT_EQ(Remediate(Request(kFindingId), &remediated, c.token).error_code(),
              c.want)
        << c.name;
    v1::ListRemediationsResponse listed;
    EXPECT_EQ(
        List(v1::ListRemediationsRequest(), &listed, c.token).error_code(),
        c.want)
        << c.name;
  }
  EXPECT_TRUE(fake_.remediate_calls().empty());
  EXPECT_TRUE(fake_.list_requests().empty());
}

TEST_F(RemediationServiceTest, CoordinatorRefusalsKeepTheirCodeAndReason) {
  Serve(&fake_);
  struct Case {
    absl::Status refusal;
    grpc::StatusCode want;
  };
  for (const Case& c : std::vector<Case>{
           {absl::NotFoundError("no finding 0123456789abcdef"),
            grpc::StatusCode::NOT_FOUND},
           {absl::FailedPreconditionError(
                "node-2's report is stale (last 40s ago)"),
            grpc::StatusCode::FAILED_PRECONDITION},
           {absl::ResourceExhaustedError("node-2: 10 orders in the last "
                                         "minute"),
            grpc::StatusCode::RESOURCE_EXHAUSTED},
           {absl::UnavailableError("cannot store the decision"),
            grpc::StatusCode::UNAVAILABLE},
       }) {
    fake_.set_remediate_answer(c.refusal);
    v1::RemediateResponse response;
    grpc::Status status = Remediate(Request(kFindingId), &response);
    EXPECT_EQ(status.error_code(), c.want) << c.refusal;
    EXPECT_EQ(status.error_message(), c.refusal.message());
  }
}

TEST_F(RemediationServiceTest, ListPassesTheFilterAndKeepsTheLimit) {
  Serve(&fake_);
  std::vector<v1::Remediation> records(5);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].set_id(absl::StrCat("r-", i));
  }
  fake_.set_list_answer(records);

  v1::ListRemediationsRequest request;
  request.set_finding_id("0123456789ABCDEF");
  request.set_node("node-2");
  request.set_limit(2);
  v1::ListRemediationsResponse response;
  grpc::Status status = List(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // A coordinator that returned more than asked is cut to the limit.
  ASSERT_EQ(response.remediations_size(), 2);
  EXPECT_EQ(response.remediations(0).id(), "r-0");
  EXPECT_EQ(response.remediations(1).id(), "r-1");

  response.Clear();
  ASSERT_TRUE(List(v1::ListRemediationsRequest(), &response).ok());
  EXPECT_EQ(response.remediations_size(), 5);

  const auto requests = fake_.list_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].finding_id(), kFindingId);
  EXPECT_EQ(requests[0].node(), "node-2");
  EXPECT_EQ(requests[0].limit(), 2u);
  // 0 asks for the server's default.
  EXPECT_EQ(requests[1].limit(), kDefaultListedRemediations);
}

TEST_F(RemediationServiceTest, ListRefusesMalformedFilters) {
  Serve(&fake_);
  struct Case {
    std::string name;
    v1::ListRemediationsRequest request;
    std::string field;
  };
  std::vector<Case> cases(3);
  cases[0] = {"bad id", {}, "finding_id"};
  cases[0].request.set_finding_id("xyz");
  cases[1] = {"bad node", {}, "node"};
  cases[1].request.set_node("node 1");
  cases[2] = {"limit too big", {}, "limit"};
  cases[2].request.set_limit(kMaxListedRemediations + 1);
  for (const Case& c : cases) {
    v1::ListRemediationsResponse response;
    grpc::Status status = List(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), StartsWith(c.field)) << c.name;
  }
  EXPECT_TRUE(fake_.list_requests().empty());
}

TEST(ManualRequesterTest, NamesTheCallerPrintablyAndBounded) {
  struct Case {
    std::string name;
    std::string common_name;
    std::string peer;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"peer only", "", "ipv4:10.0.0.5:51234",
            "manual: ipv4:10.0.0.5:51234"},
           {"certificate", "alice", "ipv6:[::1]:4242",
            "manual: alice (ipv6:[::1]:4242)"},
           {"no peer", "", "", "manual: unknown peer"},
       }) {
    EXPECT_EQ(ManualRequester(c.common_name, c.peer), c.want) << c.name;
  }
  const std::string hostile =
      ManualRequester(std::string(5000, 'a') + "\n", "ipv4:1.2.3.4:5\x1b[2J");
  EXPECT_LT(hostile.size(), 600u);
  EXPECT_EQ(hostile.find('\n'), std::string::npos);
  EXPECT_EQ(hostile.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace ghostpeer::aggregator
