// The aggregator's gRPC server over a real port on 127.0.0.1: binding
// (taken ports, shared ports, bad addresses) and health (per service, and
// following a store that cannot write), with /readyz beside it.
#include "aggregator/server.h"

#include <signal.h>
#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/engine.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "test_util.h"
#include "tests/support/held_port.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::HeldPort;
using testing::Attach;
using testing::Container;
using testing::TempDb;

constexpr char kIngest[] = "ghostpeer.v1.Ingest";
constexpr char kQuery[] = "ghostpeer.v1.Query";

// Until destroyed, the process cannot write a file past `bytes`: the write
// fails (EFBIG) as on a full disk. SIGXFSZ, which would kill the process,
// is ignored meanwhile.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &saved_), 0);
    previous_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &saved_), 0);
    signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_ = {};
  sighandler_t previous_handler_ = SIG_DFL;
};

class AggregatorServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.db_path = db_.path();
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  absl::StatusOr<std::unique_ptr<AggregatorServer>> StartOn(
      const std::string& listen) {
    ServerOptions options;
    options.listen = listen;
    options.health_interval = absl::Milliseconds(20);
    return AggregatorServer::Start(options, engine_.get());
  }

  // The grpc.health.v1 answer for `service`: the serving status's name, or
  // the call's error code when there is none (NOT_FOUND: not served).
  static std::string Health(int port, const std::string& service) {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                       grpc::InsecureChannelCredentials());
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = stub->Check(&context, request, &response);
    if (!status.ok()) {
      return absl::StrCat("error ", status.error_code(), " ",
                          status.error_message());
    }
    return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
        response.status());
  }

  // Polls until `service`'s health is `want`; the last answer otherwise.
  static std::string AwaitHealth(int port, const std::string& service,
                                 const std::string& want) {
    std::string got;
    for (int attempt = 0; attempt < 250; ++attempt) {
      got = Health(port, service);
      if (got == want) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return got;
  }

  absl::StatusOr<uint64_t> IngestEvent(uint64_t seq) {
    v1::AddressEventBatch batch;
    *batch.add_events() = Attach(
        seq, absl::Now(),
        Container(absl::StrCat("10.0.1.", seq), absl::StrCat("srv.", seq)));
    return engine_->IngestAddressEvents("node-2", "srv-agent", batch);
  }

  TempDb db_{"server_test"};
  std::unique_ptr<Engine> engine_;
};

TEST_F(AggregatorServerTest, PortHeldByAnotherSocketIsUnavailable) {
  // This crashed (SIGSEGV) when the failed start tore the server down.
  HeldPort held(/*reuse_port=*/false);
  ASSERT_NE(held.port(), 0);
  auto server = StartOn(absl::StrCat("127.0.0.1:", held.port()));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(server.status().message(), "cannot listen"))
      << server.status();
}

TEST_F(AggregatorServerTest, PortIsNotSharedWithReusePortSockets) {
  // A socket that offers to share its port (as gRPC's do by default).
  HeldPort held(/*reuse_port=*/true);
  ASSERT_NE(held.port(), 0);
  auto server = StartOn(absl::StrCat("127.0.0.1:", held.port()));
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable)
      << "started on a port another socket listens on";
}

TEST_F(AggregatorServerTest, SecondAggregatorOnOnePortIsRefused) {
  auto first = StartOn("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = StartOn(absl::StrCat("127.0.0.1:", (*first)->port()));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << "two aggregators share port " << (*first)->port();
  EXPECT_EQ(Health((*first)->port(), ""), "SERVING");
}

TEST_F(AggregatorServerTest, ReplicasAskingToSharePortBothServeIt) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.share_port = true;
  auto first = AggregatorServer::Start(options, engine_.get());
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = AggregatorServer::Start(options, engine_.get());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->port(), (*first)->port());
  // One replica gone: its listener goes with it, and the port still
  // answers, from the other.
  first->reset();
  EXPECT_EQ(Health((*second)->port(), ""), "SERVING");
}

TEST_F(AggregatorServerTest, SharedPortIsNotTakenFromAnExclusiveServer) {
  auto exclusive = StartOn("127.0.0.1:0");
  ASSERT_TRUE(exclusive.ok()) << exclusive.status();
  ServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", (*exclusive)->port());
  options.share_port = true;
  auto replica = AggregatorServer::Start(options, engine_.get());
  EXPECT_EQ(replica.status().code(), absl::StatusCode::kUnavailable)
      << "a replica joined a port its owner did not share";
}

TEST_F(AggregatorServerTest, AddressNotOfThisHostIsUnavailable) {
  // 192.0.2.0/24 is TEST-NET-1: never an address of a real host.
  auto server = StartOn("192.0.2.1:0");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable)
      << server.status();
}

TEST_F(AggregatorServerTest, MalformedListenAddressIsInvalidArgument) {
  struct Case {
    std::string name;
    std::string listen;
  };
  const std::vector<Case> cases = {
      {"port past 65535", "127.0.0.1:99999"},
      {"no port", "127.0.0.1"},
      {"empty", ""},
      {"unbracketed ipv6", "::1:7070"},
  };
  for (const Case& c : cases) {
    auto server = StartOn(c.listen);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name << ": " << server.status();
  }
}

TEST_F(AggregatorServerTest, ColonPortListensOnEveryInterface) {
  // gRPC alone refuses ":PORT"; the HTTP listeners accept it.
  auto server = StartOn(":0");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Health((*server)->port(), ""), "SERVING");
}

TEST_F(AggregatorServerTest, HealthIsServedPerService) {
  auto server = StartOn("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_EQ(Health(port, ""), "SERVING");
  EXPECT_EQ(Health(port, kIngest), "SERVING");
  EXPECT_EQ(Health(port, kQuery), "SERVING");
  EXPECT_EQ(Health(port, "ghostpeer.v1.NoSuchService"),
            "error 5 service name unknown");
}

TEST_F(AggregatorServerTest, StoreThatCannotWriteMakesIngestNotServing) {
  ASSERT_TRUE(IngestEvent(1).ok());
  auto server = StartOn("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  alerts::AlertingOptions alerting_options;
  alerting_options.http_listen = "127.0.0.1:0";
  auto alerting = alerts::Alerting::Start(alerting_options, engine_.get());
  ASSERT_TRUE(alerting.ok()) << alerting.status();
  httplib::Client http("127.0.0.1", (*alerting)->http_port());
  http.set_connection_timeout(2);
  http.set_read_timeout(5);
  const int port = (*server)->port();
  ASSERT_EQ(Health(port, kIngest), "SERVING");
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  // The disk fills up: the address batch is refused...
  {
    FileSizeLimit full_disk(1);
    EXPECT_FALSE(IngestEvent(2).ok());
  }
  // ...and the aggregator says so, on both channels, while queries go on.
  EXPECT_EQ(engine_->StoreWritable().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(AwaitHealth(port, kIngest, "NOT_SERVING"), "NOT_SERVING");
  EXPECT_EQ(Health(port, kQuery), "SERVING");
  ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_TRUE(absl::StrContains(ready->body, "the store cannot write"))
      << ready->body;

  // Space again: the next write succeeds and both recover.
  ASSERT_TRUE(IngestEvent(2).ok());
  EXPECT_EQ(AwaitHealth(port, kIngest, "SERVING"), "SERVING");
  ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

}  // namespace
}  // namespace ghostpeer::aggregator
