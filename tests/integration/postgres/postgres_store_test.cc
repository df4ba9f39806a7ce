// PostgresStore against a real PostgreSQL 15 this program starts for itself
// (tests/support/postgres_cluster.h; one server, a database per test): the
// HistoryStore contract every store keeps, then what only a server store
// has — migrations shared by several aggregators, a newer schema refused,
// the server restarted under a running store, passwords kept out of errors,
// and a 10,000-event burst in one batch.
#include "aggregator/postgres_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregator/address_history.h"
#include "aggregator/engine.h"
#include "aggregator/history_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/integration/postgres/cluster_environment.h"
#include "tests/support/postgres_cluster.h"
#include "tests/unit/aggregator/history_store_contract.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::PostgresCluster;
using testing::Attach;
using testing::Batch;
using testing::Container;
using testing::Detach;
using testing::ExpectSample;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::HistoryStoreContractTest;
using ::testing::Not;
using testing::StoreKind;
using testing::StoreKindName;
using testing::T;
using testing::WriteSample;

PostgresCluster* cluster = nullptr;

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(
        new ::ghostpeer::testing::PostgresClusterEnvironment(&cluster));

// A new, empty database; its URI.
std::string NewDatabase() {
  static std::atomic<int> next{0};
  const std::string name = absl::StrCat("t", ++next);
  absl::StatusOr<std::string> uri = cluster->CreateDatabase(name);
  EXPECT_TRUE(uri.ok()) << uri.status();
  return uri.ok() ? *uri : std::string();
}

std::string DatabaseOf(const std::string& uri) {
  const size_t slash = uri.find("@/");
  return uri.substr(slash + 2, uri.find('?') - slash - 2);
}

const StoreKind kPostgres = {"postgresql", [](absl::Time now) {
                               return OpenHistoryStore(NewDatabase(), now);
                             }};

INSTANTIATE_TEST_SUITE_P(Stores, HistoryStoreContractTest,
                         ::testing::Values(kPostgres), StoreKindName);

TEST(PostgresStoreTest, MigratesAnEmptyDatabaseAndKeepsItsCreationTime) {
  const std::string uri = NewDatabase();
  {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(uri, T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->created_at(), T(1));
  }
  EXPECT_EQ(*cluster->Query(DatabaseOf(uri),
                            "SELECT version FROM "
                            "schema_version"),
            absl::StrCat(kPostgresSchemaVersion));
  EXPECT_EQ(
      *cluster->Query(DatabaseOf(uri), "SELECT count(*) FROM schema_version"),
      "1");
  // Reopened later: nothing migrates again, the creation time stays.
  absl::StatusOr<std::unique_ptr<HistoryStore>> again =
      OpenHistoryStore(uri, T(500));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->created_at(), T(1));
  EXPECT_EQ(
      *cluster->Query(DatabaseOf(uri), "SELECT count(*) FROM schema_version"),
      "1");
}

// Several aggregators starting at once on one new database: the advisory
// lock makes one migrate and the others find the schema done.
TEST(PostgresStoreTest, AggregatorsStartingTogetherMigrateOnce) {
  const std::string uri = NewDatabase();
  constexpr int kAggregators = 4;
  std::vector<absl::StatusOr<std::unique_ptr<HistoryStore>>> stores(
      kAggregators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kAggregators; ++i) {
    threads.emplace_back(
        [&stores, &uri, i] { stores[i] = OpenHistoryStore(uri, T(1 + i)); });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kAggregators; ++i) {
    ASSERT_TRUE(stores[i].ok()) << i << ": " << stores[i].status();
    // The first to migrate stamped the creation time; all read that one.
    EXPECT_EQ((*stores[i])->created_at(), (*stores[0])->created_at());
  }
  EXPECT_EQ(
      *cluster->Query(DatabaseOf(uri), "SELECT count(*) FROM schema_version"),
      "1");
}

TEST(PostgresStoreTest, RefusesASchemaNewerThanItsBuild) {
  const std::string uri = NewDatabase();
  {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(uri, T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    AddressHistory history;
    ASSERT_TRUE((*store)
                    ->CommitAddressBatch("n", "i", 3,
                                         testing::SomeChanges(&history), T(2))
                    .ok());
  }
  ASSERT_TRUE(
      cluster->Query(DatabaseOf(uri), "UPDATE schema_version SET version = 99")
          .ok());
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(uri, T(3));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("schema version 99, newer than this"));
  // Refused, not downgraded: version and rows as they were.
  EXPECT_EQ(*cluster->Query(DatabaseOf(uri),
                            "SELECT version FROM "
                            "schema_version"),
            "99");
  EXPECT_EQ(*cluster->Query(DatabaseOf(uri), "SELECT count(*) FROM intervals"),
            "2");
}

// Everything written survives the store's close and the server's restart.
TEST(PostgresStoreTest, ReopenAfterAServerRestartKeepsEverything) {
  const std::string uri = NewDatabase();
  {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(uri, T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    WriteSample(**store);
  }
  ASSERT_TRUE(cluster->Stop().ok());
  ASSERT_TRUE(cluster->Start().ok());
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(uri, T(99));
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->created_at, T(1));
  ExpectSample(*state);
}

// The server stops under a running store: the writes it cannot take fail
// Unavailable naming the store (never its password) and store nothing; the
// first write after the server is back reconnects and succeeds; nothing
// acknowledged before is lost.
TEST(PostgresStoreTest, ServerRestartedMidRunLosesNothingAcknowledged) {
  const std::string database = DatabaseOf(NewDatabase());
  const std::string uri = cluster->Uri(database, "s3cret-pw");
  absl::StatusOr<std::unique_ptr<HistoryStore>> opened =
      OpenHistoryStore(uri, T(1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  HistoryStore& store = **opened;
  AddressHistory history;
  HistoryChanges before;
  history.Apply("node-2", Attach(1, T(10), Container("10.0.1.6", "a.1")),
                &before);
  ASSERT_TRUE(store.CommitAddressBatch("node-2", "i", 1, before, T(10)).ok());

  ASSERT_TRUE(cluster->Stop().ok());
  HistoryChanges during;
  history.Apply("node-2", Detach(2, T(20), Container("10.0.1.6", "a.1")),
                &during);
  history.Apply("node-2", Attach(3, T(21), Container("10.0.1.7", "b.1")),
                &during);
  for (int attempt = 0; attempt < 2; ++attempt) {  // lost, then refused
    const absl::Status down =
        store.CommitAddressBatch("node-2", "i", 3, during, T(21));
    EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
    EXPECT_THAT(std::string(down.message()),
                HasSubstr(absl::StrCat(
                    "postgresql postgresql://ghostpeer:***@/", database)));
    EXPECT_THAT(std::string(down.message()), Not(HasSubstr("s3cret")));
  }
  const absl::StatusOr<StoredState> unreadable = store.Load();
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(cluster->Start().ok());
  // The Engine retries the same events (agents resend what is unacked).
  ASSERT_TRUE(store.CommitAddressBatch("node-2", "i", 3, during, T(21)).ok());
  absl::StatusOr<StoredState> state = store.Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->intervals.size(), 2u);
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(state->intervals).ok());
  const AddressRecord* a = loaded.Find("10.0.1.6");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->intervals.size(), 1u);
  EXPECT_EQ(a->intervals[0].until, T(20));
  ASSERT_NE(loaded.Find("10.0.1.7"), nullptr);
}

// The connection dies half-way through a batch's transaction (a trigger on
// the seq upsert, the batch's last statement, ends the session itself):
// the call is Unavailable, the intervals written before it are gone with
// the transaction, and the next call reconnects and stores the batch.
TEST(PostgresStoreTest, AConnectionLostMidTransactionLeavesNothingHalfDone) {
  const std::string uri = NewDatabase();
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(uri, T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(cluster
                  ->Query(DatabaseOf(uri), R"sql(
      CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_terminate_backend(pg_backend_pid());
        RETURN NEW;
      END $$;
      CREATE TRIGGER die BEFORE INSERT ON agent_seqs
        FOR EACH ROW EXECUTE FUNCTION die();)sql")
                  .ok());
  AddressHistory history;
  const HistoryChanges changes = testing::SomeChanges(&history);
  const absl::Status lost =
      (*store)->CommitAddressBatch("node-2", "i", 3, changes, T(40));
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  EXPECT_EQ(*cluster->Query(DatabaseOf(uri), "SELECT count(*) FROM intervals"),
            "0");

  ASSERT_TRUE(
      cluster->Query(DatabaseOf(uri), "DROP TRIGGER die ON agent_seqs").ok());
  ASSERT_TRUE(
      (*store)->CommitAddressBatch("node-2", "i", 3, changes, T(40)).ok());
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->intervals.size(), 2u);
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
}

// The Engine over PostgreSQL: an agent's address events are acknowledged
// only once committed; while the server is down the batch is refused and
// nothing of it is kept, in memory or on the server; the agent's resend
// after it is back is acknowledged; a new Engine (an aggregator restarted
// elsewhere) resumes from the stored seq with the history.
TEST(PostgresStoreTest, EngineAcknowledgesOnlyWhatTheServerCommitted) {
  const std::string uri = NewDatabase();
  ::ghostpeer::fakes::FakeClock clock(T(0));
  EngineOptions options;
  options.db_path = uri;
  options.clock = &clock;
  const v1::AddressOwner a = Container("10.0.1.6", "a.1");
  const v1::AddressOwner b = Container("10.0.1.7", "b.1");
  {
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_EQ(*(*engine)->Hello(HelloFrom("node-2", "agent")), 0u);
    clock.Set(T(10));
    EXPECT_EQ(*(*engine)->IngestAddressEvents("node-2", "agent",
                                              Batch({Attach(1, T(10), a)})),
              1u);
    ASSERT_TRUE(cluster->Stop().ok());
    clock.Set(T(20));
    const v1::AddressEventBatch resend =
        Batch({Detach(2, T(20), a), Attach(3, T(20), b)});
    absl::StatusOr<uint64_t> refused =
        (*engine)->IngestAddressEvents("node-2", "agent", resend);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
        << refused.status();
    v1::GetAddressHistoryRequest request;
    request.set_address("10.0.1.7");
    absl::StatusOr<v1::GetAddressHistoryResponse> history =
        (*engine)->GetAddressHistory(request);
    EXPECT_TRUE(!history.ok() || history->intervals_size() == 0)
        << "a refused batch is not in memory either";
    ASSERT_TRUE(cluster->Start().ok());
    EXPECT_EQ(*(*engine)->IngestAddressEvents("node-2", "agent", resend), 3u);
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(*(*engine)->Hello(HelloFrom("node-2", "agent")), 3u);
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  absl::StatusOr<v1::GetAddressHistoryResponse> history =
      (*engine)->GetAddressHistory(request);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->intervals_size(), 1);
  EXPECT_EQ(FromProto(history->intervals(0).until()), T(20));
  request.set_address("10.0.1.7");
  history = (*engine)->GetAddressHistory(request);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->intervals_size(), 1);
}

// A node reboot's address burst: 10,000 attaches in one batch, then their
// 10,000 detaches and a re-attach of each in the next (closes and inserts
// mixed), all stored. (How long it takes: bench/aggregator/store_bench.)
TEST(PostgresStoreTest, StoresATenThousandEventBurstInOneBatch) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(NewDatabase(), T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kEvents = 10000;
  AddressHistory history;
  HistoryChanges attach, churn;
  auto owner = [](int i) {
    return Container(absl::StrCat("10.", 1 + i / 250, ".", i % 250, ".9"),
                     absl::StrCat("task.", i), "node-2");
  };
  for (int i = 0; i < kEvents; ++i) {
    history.Apply("node-2", Attach(1 + i, T(10), owner(i)), &attach);
  }
  ASSERT_EQ(attach.size(), static_cast<size_t>(kEvents));
  ASSERT_TRUE(
      (*store)->CommitAddressBatch("node-2", "i", kEvents, attach, T(10)).ok());
  for (int i = 0; i < kEvents; ++i) {
    history.Apply("node-2", Detach(kEvents + 2 * i, T(20), owner(i)), &churn);
    history.Apply("node-2", Attach(kEvents + 2 * i + 1, T(21), owner(i)),
                  &churn);
  }
  ASSERT_TRUE((*store)
                  ->CommitAddressBatch("node-2", "i", 3 * kEvents, churn, T(21))
                  .ok());
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->intervals.size(), static_cast<size_t>(2 * kEvents));
  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(state->intervals).ok());
  for (int i : {0, 4999, kEvents - 1}) {
    const AddressRecord* record = loaded.Find(owner(i).address());
    ASSERT_NE(record, nullptr) << i;
    ASSERT_EQ(record->intervals.size(), 2u);
    EXPECT_EQ(record->intervals[0].until, T(20));
    EXPECT_TRUE(record->intervals[1].open());
  }
  EXPECT_EQ(state->seqs[0].seq, static_cast<uint64_t>(3 * kEvents));
}

// Ops on one interval repeated within a batch: the last of each kind wins,
// as applying them one by one would leave it.
TEST(PostgresStoreTest, RepeatedOpsOnOneIntervalKeepTheLast) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(NewDatabase(), T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(10), Container("10.0.1.6", "a.1")),
                &changes);
  ASSERT_EQ(changes.size(), 1u);
  HistoryOp first_close{HistoryOp::Kind::kClose, changes[0].after,
                        changes[0].after};
  first_close.after.until = T(15);
  first_close.after.close_reason = v1::CLOSE_REASON_DETACHED;
  HistoryOp second_close = first_close;
  second_close.after.until = T(18);
  second_close.after.close_reason = v1::CLOSE_REASON_TASK_ENDED;
  HistoryOp first_update{HistoryOp::Kind::kUpdateOwner, changes[0].after,
                         changes[0].after};
  first_update.after.owner.set_service("first");
  HistoryOp second_update = first_update;
  second_update.after.owner.set_service("second");
  changes.push_back(first_close);
  changes.push_back(first_update);
  changes.push_back(second_close);
  changes.push_back(second_update);
  ASSERT_TRUE((*store)->CommitHistoryChanges(changes).ok());
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->intervals.size(), 1u);
  EXPECT_EQ(state->intervals[0].until, T(18));
  EXPECT_EQ(state->intervals[0].close_reason, v1::CLOSE_REASON_TASK_ENDED);
  EXPECT_EQ(state->intervals[0].owner.service(), "second");
}

// Seqs from 2^63 up are stored as negative bigints; comparisons still put
// them above the small ones (the same trap SqliteStore's comment tells).
TEST(PostgresStoreTest, SeqsAboveTwoToTheSixtyThreeNeverGoBack) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      OpenHistoryStore(NewDatabase(), T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  const uint64_t big = (uint64_t{1} << 63) + 5;
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", big, {}, T(2)).ok());
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", 10, {}, T(3)).ok());
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, big);
}

}  // namespace
}  // namespace ghostpeer::aggregator
