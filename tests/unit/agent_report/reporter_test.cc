// The agent's stream client against the real aggregator on 127.0.0.1:0,
// with scripted snapshots: hello and resume, acks advancing the journal,
// unacknowledged events resent after a reconnect, an aggregator restart.
#include "agent/report/reporter.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/report/event_journal.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_snapshot_source.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/support/eventually.h"
#include "tests/support/loopback_aggregator.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::fakes::FakeSnapshotSource;
using ::ghostpeer::fakes::InMemoryHistoryStore;
using ::ghostpeer::testing::Eventually;
using ::ghostpeer::testing::LoopbackAggregator;
using ::ghostpeer::testing::LoopbackAggregatorOptions;

constexpr char kNode[] = "node-1";

class ReporterTest : public ::testing::Test {
 protected:
  void TearDown() override { StopReporter(); }

  void StartAggregator(LoopbackAggregatorOptions options = {}) {
    absl::StatusOr<std::unique_ptr<LoopbackAggregator>> started =
        LoopbackAggregator::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    aggregator_ = std::move(*started);
  }

  // Runs a Reporter over `journal` (null: a new in-memory one).
  void StartReporter(std::unique_ptr<EventJournal> journal = nullptr) {
    if (journal == nullptr) {
      absl::StatusOr<std::unique_ptr<EventJournal>> opened =
          EventJournal::Open({});
      ASSERT_TRUE(opened.ok()) << opened.status();
      journal = std::move(*opened);
    }
    journal_ = std::move(journal);
    ReporterOptions options;
    options.aggregators = {aggregator_->address()};
    options.node = kNode;
    options.agent_version = "0.1.0";
    options.interval = absl::Seconds(1);  // the shortest Run() accepts
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    reporter_ = std::make_unique<Reporter>(options, &source_, journal_.get());
    run_ = std::thread([this] { run_status_ = reporter_->Run(); });
  }

  void StopReporter() {
    if (reporter_ == nullptr) return;
    const absl::Time asked = absl::Now();
    reporter_->Stop();
    run_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    // "Promptly": bounded by one snapshot, and ours are instant.
    EXPECT_LT(absl::Now() - asked, absl::Seconds(2));
    reporter_.reset();
  }

  // Every address event journaled so far is acknowledged.
  bool AllAcknowledged() const {
    return journal_->last_seq() > 0 &&
           journal_->acked_seq() == journal_->last_seq() &&
           journal_->pending_count() == 0;
  }

  // The intervals the aggregator knows for `address`, as "task open|closed".
  std::vector<std::string> History(const std::string& address) {
    v1::GetAddressHistoryRequest request;
    request.set_address(address);
    absl::StatusOr<v1::GetAddressHistoryResponse> history =
        aggregator_->engine().GetAddressHistory(request);
    EXPECT_TRUE(history.ok()) << history.status();
    std::vector<std::string> intervals;
    if (!history.ok()) return intervals;
    for (const v1::AddressOwner& owner : history->intervals()) {
      intervals.push_back(absl::StrCat(owner.node(), " ",
                                       owner.has_until() ? "closed" : "open"));
    }
    return intervals;
  }

  FakeSnapshotSource source_{kNode, Clock::Real()};
  std::unique_ptr<LoopbackAggregator> aggregator_;
  std::unique_ptr<EventJournal> journal_;
  std::unique_ptr<Reporter> reporter_;
  std::thread run_;
  absl::Status run_status_;
};

TEST_F(ReporterTest, StreamsAddressesAndSnapshotsAndAcksAdvanceTheJournal) {
  StartAggregator();
  source_.SetAddresses({"10.0.1.6", "10.0.1.7"});
  StartReporter();

  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  // Two ATTACHes and the stream's INVENTORY.
  EXPECT_EQ(journal_->last_seq(), 3u);
  EXPECT_THAT(History("10.0.1.6"), ::testing::ElementsAre("node-1 open"));
  EXPECT_THAT(History("10.0.1.7"), ::testing::ElementsAre("node-1 open"));
  ASSERT_TRUE(Eventually([&] { return reporter_->stats().connected; }));
  ASSERT_TRUE(Eventually(
      [&] { return aggregator_->engine().Counters().full_snapshots >= 1; }));

  // An address leaves: the next snapshot's DETACH is sent and acknowledged.
  source_.SetAddresses({"10.0.1.6"});
  ASSERT_TRUE(Eventually(
      [&] { return journal_->last_seq() == 4 && AllAcknowledged(); }));
  EXPECT_THAT(History("10.0.1.7"), ::testing::ElementsAre("node-1 closed"));

  // The sender counts a message after its write returns, which can be
  // after the ack arrived: wait for the count rather than race it.
  ASSERT_TRUE(Eventually([&] { return reporter_->stats().events_sent == 4; }))
      << reporter_->stats().events_sent;
  const ReporterStats stats = reporter_->stats();
  EXPECT_EQ(stats.streams_opened, 1u);
  EXPECT_EQ(stats.reconnects, 0u);
  EXPECT_EQ(stats.endpoint, aggregator_->address());
  EXPECT_EQ(stats.failovers, 0u);
  EXPECT_GE(stats.snapshots_sent, 2u);
  EXPECT_EQ(stats.full_snapshots_sent, 1u);  // then deltas
}

// The agent's /metrics read these: whether the node sees through VIPs and
// how many IPVS namespaces black-hole connections to removed backends.
TEST_F(ReporterTest, StatsCarryTheLastSnapshotsTranslations) {
  StartAggregator();
  v1::NodeSnapshot snapshot;
  snapshot.set_node(kNode);
  snapshot.set_translation_status("ok");
  snapshot.mutable_stats()->set_translations(7);
  snapshot.mutable_stats()->set_translation_namespaces_failed(0);
  for (int nodest : {0, 1, 0}) {
    v1::NamespaceInfo* lb = snapshot.add_namespaces();
    lb->set_inode(snapshot.namespaces_size());
    lb->mutable_ipvs()->set_expire_nodest_conn(nodest);
  }
  snapshot.add_namespaces()->set_inode(99);  // no IPVS
  source_.Set(snapshot);
  StartReporter();
  ASSERT_TRUE(
      Eventually([&] { return reporter_->stats().snapshots_sent > 0; }));
  ReporterStats stats = reporter_->stats();
  EXPECT_TRUE(stats.last_translations_ok);
  EXPECT_EQ(stats.last_translations, 7u);
  EXPECT_EQ(stats.last_translation_namespaces_failed, 0u);
  EXPECT_EQ(stats.last_ipvs_blackhole_namespaces, 2u);

  snapshot.set_translation_status(
      "unavailable: translations unreadable in 1 of 4 namespaces (x: y)");
  snapshot.mutable_stats()->set_translation_namespaces_failed(1);
  source_.Set(snapshot);
  ASSERT_TRUE(
      Eventually([&] { return !reporter_->stats().last_translations_ok; }));
  EXPECT_EQ(reporter_->stats().last_translation_namespaces_failed, 1u);
}

TEST_F(ReporterTest, UnacknowledgedEventsAreResentAfterAReconnect) {
  StartAggregator();
  // The aggregator cannot store the first batch: it ends the stream, acks
  // nothing, and the agent must send the same events again.
  aggregator_->store()->FailNext(InMemoryHistoryStore::Write::kAddressBatch, 1,
                                 absl::UnavailableError("disk on fire"));
  source_.SetAddresses({"10.0.1.6", "10.0.1.7"});
  StartReporter();

  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_THAT(History("10.0.1.6"), ::testing::ElementsAre("node-1 open"));
  EXPECT_THAT(History("10.0.1.7"), ::testing::ElementsAre("node-1 open"));
  // Some were sent twice (counted after the write: wait, do not race).
  ASSERT_TRUE(Eventually([&] {
    return reporter_->stats().events_sent > journal_->last_seq();
  })) << reporter_->stats().events_sent;
  const ReporterStats stats = reporter_->stats();
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_GE(stats.streams_opened, 2u);
  EXPECT_EQ(aggregator_->engine().Counters().store_errors, 1u);
  EXPECT_GE(aggregator_->store()->successful_writes(
                InMemoryHistoryStore::Write::kAddressBatch),
            1);
}

TEST_F(ReporterTest, CatchesUpAfterTheAggregatorRestartsWithoutResending) {
  const std::string db =
      absl::StrCat(::testing::TempDir(), "/gp_reporter_", getpid(), ".db");
  LoopbackAggregatorOptions options;
  options.db_path = db;
  StartAggregator(options);
  source_.SetAddresses({"10.0.1.6", "10.0.1.7"});
  StartReporter();
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  const uint64_t acked_before = journal_->acked_seq();

  // The aggregator goes away; meanwhile an address leaves and another
  // comes. The agent keeps snapshotting and journals the changes.
  aggregator_->Stop();
  const int takes = source_.takes();
  source_.SetAddresses({"10.0.1.6", "10.0.1.8"});
  ASSERT_TRUE(source_.WaitForTakes(takes + 1, absl::Seconds(5)));
  ASSERT_TRUE(Eventually([&] { return journal_->last_seq() > acked_before; }));
  EXPECT_EQ(journal_->acked_seq(), acked_before);

  // Back on the same port, with what it stored: the agent reconnects,
  // learns what was stored and sends only what came after.
  ASSERT_TRUE(aggregator_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_EQ(aggregator_->engine().Counters().address_events_replayed, 0u);
  EXPECT_THAT(History("10.0.1.7"), ::testing::ElementsAre("node-1 closed"));
  EXPECT_THAT(History("10.0.1.8"), ::testing::ElementsAre("node-1 open"));
  EXPECT_GE(reporter_->stats().streams_opened, 2u);

  StopReporter();
  aggregator_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((db + suffix).c_str());
  }
}

// The aggregator stored events whose ack never reached the agent (it died
// in between): the hello's ack says so, and the agent resumes after them
// instead of sending them again.
TEST_F(ReporterTest, ResumesAfterWhatTheAggregatorStoredNotWhatItAcked) {
  StartAggregator();
  absl::StatusOr<std::unique_ptr<EventJournal>> journal =
      EventJournal::Open({});
  ASSERT_TRUE(journal.ok()) << journal.status();
  std::vector<v1::AddressEvent> events(3);
  const char* const kAddresses[] = {"10.0.1.5", "10.0.1.6", "10.0.1.7"};
  for (int i = 0; i < 3; ++i) {
    events[i].set_type(v1::ATTACH);
    events[i].set_source(v1::DOCKER_EVENT);
    *events[i].mutable_time() = ToProto(absl::Now() - absl::Seconds(10));
    v1::AddressOwner* owner = events[i].mutable_owner();
    owner->set_kind(v1::OWNER_KIND_NETNS);
    owner->set_node(kNode);
    owner->set_address(kAddresses[i]);
    owner->set_netns_inode(4026532100 + i);
    owner->set_netns(absl::StrCat("inode:", owner->netns_inode()));
  }
  ASSERT_TRUE((*journal)->Append(events).ok());
  // Events 1 and 2 reached the aggregator's store; the acks were lost.
  v1::Hello hello;
  hello.set_node(kNode);
  hello.set_agent_instance((*journal)->instance());
  ASSERT_TRUE(aggregator_->engine().Hello(hello).ok());
  v1::AddressEventBatch stored;
  for (v1::AddressEvent& event : (*journal)->Pending(0, 2)) {
    *stored.add_events() = std::move(event);
  }
  ASSERT_TRUE(aggregator_->engine()
                  .IngestAddressEvents(kNode, hello.agent_instance(), stored)
                  .ok());
  aggregator_->engine().Disconnected(kNode, hello.agent_instance());
  EXPECT_EQ((*journal)->acked_seq(), 0u);

  // The node holds nothing now: the stream's INVENTORY closes them all.
  StartReporter(std::move(*journal));
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_EQ(aggregator_->engine().Counters().address_events_replayed, 0u);
  // Event 3 did arrive (then the inventory closed it).
  EXPECT_THAT(History("10.0.1.7"), ::testing::ElementsAre("node-1 closed"));
}

TEST_F(ReporterTest, KeepsTryingUntilTheAggregatorComesUp) {
  StartAggregator();
  aggregator_->Stop();  // nothing listens on its port now
  source_.SetAddresses({"10.0.1.6"});
  StartReporter();
  // Snapshots go on while there is nobody to send them to.
  ASSERT_TRUE(source_.WaitForTakes(2, absl::Seconds(5)));
  EXPECT_FALSE(reporter_->stats().connected);
  EXPECT_EQ(journal_->acked_seq(), 0u);

  ASSERT_TRUE(aggregator_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return AllAcknowledged(); }));
  EXPECT_TRUE(reporter_->stats().connected);
  // One aggregator: nowhere to fail over to; it waits for this one.
  EXPECT_EQ(reporter_->stats().failovers, 0u);
  EXPECT_THAT(History("10.0.1.6"), ::testing::ElementsAre("node-1 open"));
}

// The name override reached the channel only in the CLI once: the agent
// parsed --tls-server-name and dialled without it (issue 9, multi-node TLS).
std::string ChannelArgument(const grpc::ChannelArguments& args,
                            absl::string_view key) {
  const grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (c_args.args[i].key == key && c_args.args[i].type == GRPC_ARG_STRING) {
      return c_args.args[i].value.string;
    }
  }
  return "";
}

TEST(ReporterChannelArgumentsTest, CarriesTheTlsServerNameOnlyWithTls) {
  ReporterOptions options;
  options.tls_server_name = "aggregator.test";
  EXPECT_EQ(ChannelArgument(ReporterChannelArguments(options),
                            GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
            "")
      << "plaintext has no certificate to check a name against";
  options.credentials =
      grpc::SslCredentials(grpc::SslCredentialsOptions{"", "", ""});
  EXPECT_EQ(ChannelArgument(ReporterChannelArguments(options),
                            GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
            "aggregator.test");
  options.tls_server_name.clear();
  EXPECT_EQ(ChannelArgument(ReporterChannelArguments(options),
                            GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
            "");
}

}  // namespace
}  // namespace ghostpeer::agent
