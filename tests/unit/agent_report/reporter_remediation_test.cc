// Remediation orders on the agent's stream, against a scripted aggregator:
// Hello says whether the agent remediates, an order read from the stream is
// executed off the reader thread and its outcome comes back on the stream,
// and a replay after a reconnect is answered without acting again.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/report/event_journal.h"
#include "agent/report/remediation_dispatcher.h"
#include "agent/report/reporter.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_snapshot_source.h"
#include "tests/support/eventually.h"
#include "tests/support/scripted_ingest.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::fakes::FakeSnapshotSource;
using ::ghostpeer::testing::Eventually;

class ReporterRemediationTest : public ::testing::Test {
 protected:
  // `options` null: the reporter gets no dispatcher.
  void Start(std::optional<RemediationDispatcherOptions> options) {
    if (options.has_value()) {
      dispatcher_ =
          std::make_unique<RemediationDispatcher>(std::move(*options));
    }
    v1::RemediationOrder order;
    order.set_order_id("order-7");
    order.set_finding_id("finding-7");
    ::ghostpeer::testing::ScriptedIngestOptions script;
    script.order_after_hello = order;
    // Each stream ends once answered: the agent reconnects and the
    // aggregator replays the order.
    script.end_after_outcome = true;
    service_ = std::make_unique<::ghostpeer::testing::ScriptedIngest>(script);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::unique_ptr<EventJournal>> journal =
        EventJournal::Open({});
    ASSERT_TRUE(journal.ok()) << journal.status();
    journal_ = std::move(*journal);
    ReporterOptions options;
    options.aggregators = {absl::StrCat("127.0.0.1:", port)};
    options.node = "node-1";
    options.interval = absl::Seconds(1);
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(100);
    options.remediation = dispatcher_.get();
    reporter_ = std::make_unique<Reporter>(options, &source_, journal_.get());
    run_ = std::thread([this] { (void)reporter_->Run(); });
  }

  void TearDown() override {
    if (reporter_ != nullptr) {
      reporter_->Stop();
      run_.join();
      reporter_.reset();
    }
    if (server_ != nullptr) server_->Shutdown();
  }

  FakeSnapshotSource source_{"node-1", Clock::Real()};
  std::atomic<int> executed_{0};
  // Outlives the reporter (declared before it).
  std::unique_ptr<RemediationDispatcher> dispatcher_;
  std::unique_ptr<::ghostpeer::testing::ScriptedIngest> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<EventJournal> journal_;
  std::unique_ptr<Reporter> reporter_;
  std::thread run_;
};

TEST_F(ReporterRemediationTest, OrderIsExecutedOnceAndItsOutcomeComesBack) {
  Start(RemediationDispatcherOptions{[&](const v1::RemediationOrder& order) {
                                       ++executed_;
                                       v1::RemediationOutcome outcome;
                                       outcome.set_outcome(
                                           v1::REMEDIATION_DESTROYED);
                                       outcome.set_detail("destroyed");
                                       return outcome;
                                     },
                                     ""});
  // Two streams: the second replays the order after the first ended.
  ASSERT_TRUE(Eventually([&] { return service_->outcomes().size() >= 2; }));
  for (const v1::RemediationOutcome& outcome : service_->outcomes()) {
    EXPECT_EQ(outcome.order_id(), "order-7");
    EXPECT_EQ(outcome.outcome(), v1::REMEDIATION_DESTROYED);
  }
  EXPECT_EQ(executed_.load(), 1);
  ASSERT_FALSE(service_->hellos().empty());
  EXPECT_TRUE(service_->hellos()[0].remediation_enabled());
  EXPECT_EQ(service_->hellos()[0].remediation_refusal(), "");
}

TEST_F(ReporterRemediationTest, WithoutRemediationHelloSaysWhyAndRefuses) {
  Start(RemediationDispatcherOptions{nullptr,
                                     "agent started without --remediation"});
  ASSERT_TRUE(Eventually([&] { return !service_->outcomes().empty(); }));
  const v1::RemediationOutcome outcome = service_->outcomes()[0];
  EXPECT_EQ(outcome.order_id(), "order-7");
  EXPECT_EQ(outcome.outcome(), v1::REMEDIATION_REFUSED);
  EXPECT_EQ(outcome.detail(), "agent started without --remediation");
  const v1::Hello hello = service_->hellos()[0];
  EXPECT_FALSE(hello.remediation_enabled());
  EXPECT_EQ(hello.remediation_refusal(), "agent started without --remediation");
}

TEST_F(ReporterRemediationTest, NoDispatcherRefusesToo) {
  Start(std::nullopt);
  ASSERT_TRUE(Eventually([&] { return !service_->outcomes().empty(); }));
  EXPECT_EQ(service_->outcomes()[0].outcome(), v1::REMEDIATION_REFUSED);
  EXPECT_FALSE(service_->hellos()[0].remediation_enabled());
  EXPECT_FALSE(service_->hellos()[0].remediation_refusal().empty());
}

}  // namespace
}  // namespace ghostpeer::agent
