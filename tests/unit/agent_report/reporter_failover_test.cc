// The agent's stream with several aggregators (--aggregator a,b), against
// two scripted aggregators on 127.0.0.1: failover when the one in use dies
// or answers nothing, everything it had not acknowledged resent to the next
// (and kept in the journal until acknowledged), a backoff only once every
// aggregator failed, and recovery when one comes back.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/report/event_journal.h"
#include "agent/report/reporter.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_snapshot_source.h"
#include "tests/support/eventually.h"
#include "tests/support/scripted_ingest.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::fakes::FakeSnapshotSource;
using ::ghostpeer::testing::Eventually;
using ::ghostpeer::testing::ScriptedIngest;
using ::ghostpeer::testing::ScriptedIngestOptions;

constexpr char kNode[] = "node-1";

// A ScriptedIngest served on 127.0.0.1, killed and brought back on the same
// port as an aggregator process would be.
class ScriptedAggregator {
 public:
  explicit ScriptedAggregator(ScriptedIngestOptions options = {})
      : options_(std::move(options)) {}
  ~ScriptedAggregator() { Kill(); }

  // Serves on `port` (0: one the kernel picks). False if it cannot.
  bool Start(int port = 0) {
    ingest_ = std::make_unique<ScriptedIngest>(options_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(ingest_.get());
    server_ = builder.BuildAndStart();
    return server_ != nullptr && port_ != 0;
  }

  // Ends every stream at once and stops listening: the port refuses.
  void Kill() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  // Valid from Start() until the next Start().
  ScriptedIngest& ingest() { return *ingest_; }

 private:
  const ScriptedIngestOptions options_;
  std::unique_ptr<ScriptedIngest> ingest_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

std::set<uint64_t> Seqs(const std::vector<v1::AddressEvent>& events) {
  std::set<uint64_t> seqs;
  for (const v1::AddressEvent& event : events) seqs.insert(event.seq());
  return seqs;
}

class ReporterFailoverTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (reporter_ == nullptr) return;
    reporter_->Stop();
    run_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    reporter_.reset();
  }

  void StartReporter(std::vector<std::string> aggregators,
                     absl::Duration ack_timeout = absl::ZeroDuration()) {
    absl::StatusOr<std::unique_ptr<EventJournal>> journal =
        EventJournal::Open({});
    ASSERT_TRUE(journal.ok()) << journal.status();
    journal_ = std::move(*journal);
    ReporterOptions options;
    options.aggregators = std::move(aggregators);
    options.node = kNode;
    options.interval = absl::Seconds(1);  // the shortest Run() accepts
    options.ack_timeout = ack_timeout;
    options.initial_backoff = absl::Milliseconds(200);
    options.max_backoff = absl::Milliseconds(400);
    reporter_ = std::make_unique<Reporter>(options, &source_, journal_.get());
    run_ = std::thread([this] { run_status_ = reporter_->Run(); });
  }

  bool AllAcknowledged() const {
    return journal_->last_seq() > 0 &&
           journal_->acked_seq() == journal_->last_seq() &&
           journal_->pending_count() == 0;
  }

  FakeSnapshotSource source_{kNode, Clock::Real()};
  std::unique_ptr<EventJournal> journal_;
  std::unique_ptr<Reporter> reporter_;
  std::thread run_;
  absl::Status run_status_;
};

TEST_F(ReporterFailoverTest, DeadAggregatorFailsOverAndTheNextGetsTheUnacked) {
  ScriptedAggregator first;
  ScriptedAggregator second;
  ASSERT_TRUE(first.Start());
  ASSERT_TRUE(second.Start());
  source_.SetAddresses({"10.0.1.6", "10.0.1.7"});
  StartReporter({first.address(), second.address()});
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_EQ(reporter_->stats().endpoint, first.address());
  const uint64_t stored_by_first = journal_->acked_seq();

  // The first stops storing; an address leaves and one comes. It receives
  // the events but dies before acknowledging them.
  first.ingest().AcknowledgeEvents(false);
  source_.SetAddresses({"10.0.1.6", "10.0.1.8"});
  ASSERT_TRUE(Eventually([&] {
    return journal_->last_seq() >= stored_by_first + 2 &&
           Seqs(first.ingest().events()).count(journal_->last_seq()) == 1;
  }));
  // The second shares the first's history: it knows what the first stored.
  second.ingest().SetStored(stored_by_first);
  second.ingest().AcknowledgeEvents(false);
  const absl::Time killed = absl::Now();
  first.Kill();

  ASSERT_TRUE(Eventually([&] { return !second.ingest().hellos().empty(); },
                         absl::Seconds(5)));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(3))
      << "a failover does not wait for a backoff";
  ASSERT_TRUE(
      Eventually([&] { return Seqs(second.ingest().events()).size() >= 3; }));
  // Everything after what the first stored, nothing before: its two
  // events and the new stream's INVENTORY, still in the journal because
  // nobody acknowledged them.
  const std::set<uint64_t> resent = Seqs(second.ingest().events());
  EXPECT_EQ(*resent.begin(), stored_by_first + 1);
  EXPECT_EQ(*resent.rbegin(), journal_->last_seq());
  EXPECT_EQ(resent.size(), journal_->last_seq() - stored_by_first);
  EXPECT_EQ(journal_->acked_seq(), stored_by_first);
  EXPECT_EQ(journal_->pending_count(), journal_->last_seq() - stored_by_first);
  EXPECT_EQ(second.ingest().hellos().size(), 1u);
  EXPECT_EQ(second.ingest().hellos()[0].agent_instance(), journal_->instance());

  // Once the second stores them, the journal lets them go.
  second.ingest().AcknowledgeEvents(true);
  source_.SetAddresses({"10.0.1.6"});
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  const ReporterStats stats = reporter_->stats();
  EXPECT_EQ(stats.failovers, 1u);
  EXPECT_EQ(stats.failed_rounds, 0u);
  EXPECT_EQ(stats.endpoint, second.address());
  EXPECT_TRUE(stats.connected);
}

// Connected, but no ack comes: after ack_timeout the agent moves on, and it
// stays with the aggregator that answers.
TEST_F(ReporterFailoverTest, SilentAggregatorFailsOverAfterTheAckTimeout) {
  ScriptedIngestOptions silent;
  silent.answer = false;
  ScriptedAggregator first(silent);
  ScriptedAggregator second;
  ASSERT_TRUE(first.Start());
  ASSERT_TRUE(second.Start());
  source_.SetAddresses({"10.0.1.6"});
  const absl::Time started = absl::Now();
  StartReporter({first.address(), second.address()},
                /*ack_timeout=*/absl::Milliseconds(1500));

  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_LT(absl::Now() - started, absl::Seconds(5));
  EXPECT_EQ(first.ingest().hellos().size(), 1u);
  EXPECT_EQ(second.ingest().hellos().size(), 1u);
  ReporterStats stats = reporter_->stats();
  EXPECT_EQ(stats.failovers, 1u);
  EXPECT_EQ(stats.endpoint, second.address());
  EXPECT_NE(stats.last_error.find("no answer to hello"), std::string::npos)
      << stats.last_error;

  // The first is still up (and still silent): the agent sticks to the
  // second rather than going back in order.
  const int takes = source_.takes();
  ASSERT_TRUE(source_.WaitForTakes(takes + 2, absl::Seconds(5)));
  stats = reporter_->stats();
  EXPECT_EQ(stats.failovers, 1u);
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(first.ingest().hellos().size(), 1u);
  EXPECT_EQ(second.ingest().hellos().size(), 1u);
}

TEST_F(ReporterFailoverTest, AllDeadBacksOffThenRecoversWhenOneComesBack) {
  ScriptedAggregator first;
  ScriptedAggregator second;
  ASSERT_TRUE(first.Start());
  ASSERT_TRUE(second.Start());
  const int second_port = second.port();
  first.Kill();
  second.Kill();
  source_.SetAddresses({"10.0.1.6"});
  StartReporter({first.address(), second.address()});

  // Both refuse: round after round, each ending in a backoff; snapshots go
  // on meanwhile.
  ASSERT_TRUE(Eventually([&] { return reporter_->stats().failed_rounds >= 2; },
                         absl::Seconds(10)));
  ReporterStats stats = reporter_->stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_GE(stats.failovers, 3u) << "within each round, and after each";
  EXPECT_EQ(journal_->acked_seq(), 0u);
  EXPECT_GE(source_.takes(), 2);

  // The second comes back on its port: the agent finds it.
  ASSERT_TRUE(second.Start(second_port));
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  stats = reporter_->stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.endpoint, second.address());
  EXPECT_EQ(second.ingest().hellos().size(), 1u);
  EXPECT_EQ(Seqs(second.ingest().events()).size(), journal_->last_seq());
}

}  // namespace
}  // namespace ghostpeer::agent
