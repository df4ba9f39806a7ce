#include "aggregator/alerts/delivery_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "aggregator/engine.h"
#include "gtest/gtest.h"
#include "test_findings.h"
#include "tests/unit/alerts/delivery_store_contract.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::DeliveryBackend;
using testing::DeliveryBackendName;
using testing::DeliveryStoreContractTest;
using testing::Resolved;
using testing::SharedDeliveryDatabase;
using testing::T0;
using testing::VanishedFinding;

void RemoveSqliteFiles(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((path + suffix).c_str());
  }
}

// Two connections on one file, as two aggregators on one host would share
// it.
SharedDeliveryDatabase NewSqliteDatabase() {
  static int next = 0;
  const std::string path = ::testing::TempDir() + "/gp-delivery-contract-" +
                           std::to_string(getpid()) + "-" +
                           std::to_string(++next) + ".db";
  RemoveSqliteFiles(path);
  return {[path](const std::string& replica)
              -> absl::StatusOr<std::unique_ptr<DeliveryStore>> {
            return SqliteDeliveryStore::Open(path, replica);
          },
          [path] { RemoveSqliteFiles(path); }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, DeliveryStoreContractTest,
                         ::testing::Values(DeliveryBackend{"sqlite",
                                                           NewSqliteDatabase}),
                         DeliveryBackendName);

class DeliveryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/gp-delivery-" + std::to_string(getpid()) +
            "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() +
            ".db";
    RemoveFiles();
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    RemoveFiles();
  }
  void RemoveFiles() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((path_ + suffix).c_str());
    }
  }
  void Reopen() {
    store_.reset();
    auto store = SqliteDeliveryStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::vector<Delivery> Due(const std::string& sink, absl::Time now) {
    auto due = store_->Due(sink, now, 100);
    EXPECT_TRUE(due.ok()) << due.status();
    return due.ok() ? *due : std::vector<Delivery>{};
  }

  std::string path_;
  std::unique_ptr<DeliveryStore> store_;
};

TEST_F(DeliveryStoreTest, EachSinkFindingEpisodeEventIsEnqueuedOnce) {
  const v1::Finding f = VanishedFinding();
  EXPECT_TRUE(*store_->Enqueue("a", DeliveryEvent::kOpened, f, T0()));
  EXPECT_FALSE(*store_->Enqueue("a", DeliveryEvent::kOpened, f, T0()));
  EXPECT_TRUE(*store_->Enqueue("b", DeliveryEvent::kOpened, f, T0()));
  // Re-opened later under the same id: a new episode, a new notification.
  v1::Finding again = f;
  *again.mutable_first_seen() = ToProto(T0() + absl::Hours(1));
  EXPECT_TRUE(*store_->Enqueue("a", DeliveryEvent::kOpened, again, T0()));
  EXPECT_TRUE(
      *store_->Known("a", f.id(), EpisodeOf(f), DeliveryEvent::kOpened));
  EXPECT_FALSE(
      *store_->Known("a", f.id(), EpisodeOf(f), DeliveryEvent::kResolved));
}

TEST_F(DeliveryStoreTest, OneRemediatedPerChangeWithItsOwnDeliveryId) {
  v1::Finding f = VanishedFinding();
  f.set_remediation("would destroy (dry-run)");
  const std::string first = RemediationChange(f);
  EXPECT_EQ(first.size(), 16u);
  EXPECT_TRUE(
      *store_->Enqueue("a", DeliveryEvent::kRemediated, f, T0(), first));
  EXPECT_FALSE(
      *store_->Enqueue("a", DeliveryEvent::kRemediated, f, T0(), first));
  f.set_remediation("destroyed the socket at 11:07:02 UTC");
  const std::string second = RemediationChange(f);
  EXPECT_NE(second, first);
  EXPECT_TRUE(
      *store_->Enqueue("a", DeliveryEvent::kRemediated, f, T0(), second));
  auto due = store_->Due("a", T0(), 10);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);  // the second waits behind the first
  EXPECT_EQ((*due)[0].event, DeliveryEvent::kRemediated);
  EXPECT_EQ((*due)[0].change, first);
  EXPECT_EQ(DeliveryId((*due)[0]),
            absl::StrCat(f.id(), "-", EpisodeOf(f), "-REMEDIATED-", first));
  // Stable across builds and restarts: a fixed text, a fixed tag.
  v1::Finding fixed;
  fixed.set_remediation("a");
  EXPECT_EQ(RemediationChange(fixed), "af63dc4c8601ec8c");
  EXPECT_EQ(RemediationChange(v1::Finding()), "");
}

TEST_F(DeliveryStoreTest, ResolvedWaitsForItsOpenedAndRoundTripsTheFinding) {
  const v1::Finding f = VanishedFinding();
  ASSERT_TRUE(store_->Enqueue("a", DeliveryEvent::kOpened, f, T0()).ok());
  ASSERT_TRUE(store_
                  ->Enqueue("a", DeliveryEvent::kResolved,
                            Resolved(f, T0() + absl::Seconds(5)), T0())
                  .ok());
  std::vector<Delivery> due = Due("a", T0());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].event, DeliveryEvent::kOpened);
  EXPECT_EQ(due[0].finding.SerializeAsString(), f.SerializeAsString());
  EXPECT_EQ(DeliveryId(due[0]),
            "00000000000000aa-" + std::to_string(EpisodeOf(f)) + "-OPENED");

  // A failed OPENED keeps RESOLVED waiting until it gets through.
  ASSERT_TRUE(
      store_->MarkFailed(due[0].id, 1, T0() + absl::Seconds(10), "500").ok());
  EXPECT_TRUE(Due("a", T0() + absl::Seconds(5)).empty());
  EXPECT_EQ(**store_->NextDue("a"), T0() + absl::Seconds(10));
  due = Due("a", T0() + absl::Seconds(10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].attempts, 1);
  ASSERT_TRUE(store_->MarkDelivered(due[0].id, T0() + absl::Seconds(10)).ok());
  due = Due("a", T0() + absl::Seconds(10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].event, DeliveryEvent::kResolved);
  EXPECT_EQ(due[0].finding.status(), v1::RESOLVED);
}

TEST_F(DeliveryStoreTest, ReopenRetriesPendingAndNeverRepeatsDelivered) {
  v1::Finding delivered = VanishedFinding("00000000000000d1");
  v1::Finding pending = VanishedFinding("00000000000000d2");
  ASSERT_TRUE(
      store_->Enqueue("a", DeliveryEvent::kOpened, delivered, T0()).ok());
  ASSERT_TRUE(store_->Enqueue("a", DeliveryEvent::kOpened, pending, T0()).ok());
  std::vector<Delivery> due = Due("a", T0());
  ASSERT_EQ(due.size(), 2u);
  ASSERT_TRUE(store_->MarkDelivered(due[0].id, T0()).ok());
  ASSERT_TRUE(
      store_->MarkFailed(due[1].id, 3, T0() + absl::Minutes(1), "down").ok());

  Reopen();  // the aggregator restarted

  EXPECT_FALSE(*store_->Enqueue("a", DeliveryEvent::kOpened, delivered, T0()));
  EXPECT_FALSE(*store_->Enqueue("a", DeliveryEvent::kOpened, pending, T0()));
  EXPECT_TRUE(Due("a", T0() + absl::Seconds(59)).empty());
  due = Due("a", T0() + absl::Minutes(1));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].finding_id, "00000000000000d2");
  EXPECT_EQ(due[0].attempts, 3);
  EXPECT_EQ((*store_->PendingBySink())["a"], 1);
}

TEST_F(DeliveryStoreTest, AbandonedIsNeverDueAndPurgeForgetsFinishedRows) {
  const v1::Finding f = VanishedFinding();
  ASSERT_TRUE(store_->Enqueue("a", DeliveryEvent::kOpened, f, T0()).ok());
  std::vector<Delivery> due = Due("a", T0());
  ASSERT_EQ(due.size(), 1u);
  ASSERT_TRUE(store_->MarkAbandoned(due[0].id, T0(), "gone").ok());
  EXPECT_TRUE(Due("a", T0() + absl::Hours(48)).empty());
  EXPECT_FALSE(store_->NextDue("a")->has_value());
  EXPECT_EQ(*store_->Purge(T0() - absl::Seconds(1)), 0);
  EXPECT_EQ(*store_->Purge(T0() + absl::Seconds(1)), 1);
  EXPECT_FALSE(
      *store_->Known("a", f.id(), EpisodeOf(f), DeliveryEvent::kOpened));
}

// The files an Engine database and its delivery store leave on disk.
class DeliveryStoreBesideEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_path_ =
        ::testing::TempDir() + "/gp-delivery-engine-" +
        std::to_string(getpid()) + "-" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    RemoveFiles();
  }
  void TearDown() override { RemoveFiles(); }
  void RemoveFiles() {
    for (const std::string& path :
         {engine_path_, DeliveryStorePath(engine_path_)}) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::remove((path + suffix).c_str());
      }
    }
  }
  std::unique_ptr<Engine> OpenEngine() {
    EngineOptions options;
    options.db_path = engine_path_;
    auto engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  // How the aggregator opens its delivery state (Alerting::Start).
  std::unique_ptr<DeliveryStore> OpenBesideEngine(int64_t expect_imported) {
    auto store = SqliteDeliveryStore::Open(DeliveryStorePath(engine_path_));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    absl::StatusOr<int64_t> imported = (*store)->ImportFrom(engine_path_);
    EXPECT_TRUE(imported.ok()) << imported.status();
    EXPECT_EQ(imported.value_or(-1), expect_imported);
    return std::move(*store);
  }
  // What builds before issue 8 did: delivery_* tables in the Engine's file.
  // A notification delivered, one pending after 3 failures, and a finding
  // whose RESOLVED waits behind its pending OPENED.
  void WriteLegacyState() {
    auto legacy = SqliteDeliveryStore::Open(engine_path_);
    ASSERT_TRUE(legacy.ok()) << legacy.status();
    DeliveryStore& store = **legacy;
    const v1::Finding delivered = VanishedFinding("00000000000000d1");
    const v1::Finding pending = VanishedFinding("00000000000000d2");
    const v1::Finding resolved = VanishedFinding("00000000000000d3");
    ASSERT_TRUE(
        store.Enqueue("a", DeliveryEvent::kOpened, delivered, T0()).ok());
    ASSERT_TRUE(store.Enqueue("a", DeliveryEvent::kOpened, pending, T0()).ok());
    ASSERT_TRUE(
        store.Enqueue("a", DeliveryEvent::kOpened, resolved, T0()).ok());
    ASSERT_TRUE(store
                    .Enqueue("a", DeliveryEvent::kResolved,
                             Resolved(resolved, T0() + absl::Seconds(5)), T0())
                    .ok());
    auto due = store.Due("a", T0(), 100);
    ASSERT_TRUE(due.ok()) << due.status();
    ASSERT_EQ(due->size(), 3u);
    ASSERT_TRUE(store.MarkDelivered((*due)[0].id, T0()).ok());
    ASSERT_TRUE(
        store.MarkFailed((*due)[1].id, 3, T0() + absl::Minutes(1), "down")
            .ok());
    ASSERT_TRUE(
        store.MarkFailed((*due)[2].id, 1, T0() + absl::Minutes(2), "down")
            .ok());
  }

  std::string engine_path_;
};

TEST_F(DeliveryStoreBesideEngineTest, KeepsItsStateOutOfTheEngineFile) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  std::unique_ptr<DeliveryStore> store = OpenBesideEngine(0);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->Enqueue("a", DeliveryEvent::kOpened, VanishedFinding(), T0())
          .ok());
  // A delivery store opened on the Engine's file itself finds nothing
  // there: the notification lives only in the -alerts file.
  auto in_engine_file = SqliteDeliveryStore::Open(engine_path_);
  ASSERT_TRUE(in_engine_file.ok()) << in_engine_file.status();
  EXPECT_FALSE(*(*in_engine_file)
                    ->Known("a", VanishedFinding().id(),
                            EpisodeOf(VanishedFinding()),
                            DeliveryEvent::kOpened));
  EXPECT_EQ(DeliveryStorePath(engine_path_), engine_path_ + "-alerts");
  EXPECT_EQ(DeliveryStorePath(":memory:"), ":memory:");
}

TEST_F(DeliveryStoreBesideEngineTest,
       ImportsWhatAnOlderBuildLeftInTheEngineFile) {
  {
    std::unique_ptr<Engine> engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
  }
  WriteLegacyState();
  std::unique_ptr<Engine> engine = OpenEngine();  // running, as in main.cc
  ASSERT_NE(engine, nullptr);
  std::unique_ptr<DeliveryStore> store = OpenBesideEngine(4);
  ASSERT_NE(store, nullptr);

  // Delivered stays delivered; pending keeps its attempts and its time.
  EXPECT_FALSE(*store->Enqueue("a", DeliveryEvent::kOpened,
                               VanishedFinding("00000000000000d1"), T0()));
  EXPECT_EQ((*store->PendingBySink())["a"], 3);
  auto due = store->Due("a", T0() + absl::Seconds(59), 100);
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_TRUE(due->empty());
  due = store->Due("a", T0() + absl::Minutes(2), 100);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].finding_id, "00000000000000d2");
  EXPECT_EQ((*due)[0].attempts, 3);
  // The RESOLVED still waits behind its finding's OPENED.
  EXPECT_EQ((*due)[1].finding_id, "00000000000000d3");
  EXPECT_EQ((*due)[1].event, DeliveryEvent::kOpened);

  // Moved, not copied: a second start imports nothing, and the Engine's
  // file no longer holds the old rows.
  store.reset();
  store = OpenBesideEngine(0);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ((*store->PendingBySink())["a"], 3);
  auto in_engine_file = SqliteDeliveryStore::Open(engine_path_);
  ASSERT_TRUE(in_engine_file.ok()) << in_engine_file.status();
  EXPECT_TRUE((*(*in_engine_file)->PendingBySink()).empty());
}

TEST_F(DeliveryStoreBesideEngineTest, AnInterruptedImportRepeatsNothing) {
  // Stopped after the copy and before the drop: the rows are in both files.
  WriteLegacyState();
  ASSERT_NE(OpenBesideEngine(4), nullptr);
  WriteLegacyState();

  std::unique_ptr<DeliveryStore> store = OpenBesideEngine(0);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ((*store->PendingBySink())["a"], 3);
  EXPECT_FALSE(*store->Enqueue("a", DeliveryEvent::kOpened,
                               VanishedFinding("00000000000000d1"), T0()));
}

TEST_F(DeliveryStoreBesideEngineTest, NoEngineFileIsNothingToImport) {
  std::unique_ptr<DeliveryStore> store = OpenBesideEngine(0);
  ASSERT_NE(store, nullptr);
  std::ifstream engine_file(engine_path_);
  EXPECT_FALSE(engine_file.good()) << "ImportFrom created " << engine_path_;
}

// A file an older build wrote (no claim columns): its pending row stays
// pending, and is claimed like any other.
TEST(DeliveryStoreOpenTest, AFileOfAnOlderBuildGetsTheClaimColumns) {
  const std::string path = ::testing::TempDir() + "/gp-delivery-old-" +
                           std::to_string(getpid()) + ".db";
  RemoveSqliteFiles(path);
  std::string blob;
  ASSERT_TRUE(VanishedFinding().SerializeToString(&blob));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE delivery_outbox (id INTEGER PRIMARY KEY "
                   "AUTOINCREMENT, sink TEXT NOT NULL, finding_id TEXT NOT "
                   "NULL, episode INTEGER NOT NULL, event TEXT NOT NULL, "
                   "finding BLOB NOT NULL, state TEXT NOT NULL, attempts "
                   "INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, "
                   "next_attempt_us INTEGER NOT NULL, finished_us INTEGER, "
                   "last_error TEXT, UNIQUE (sink, finding_id, episode, "
                   "event))",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  const std::string insert = absl::StrCat(
      "INSERT INTO delivery_outbox (sink, finding_id, episode, event, "
      "finding, state, created_us, next_attempt_us) VALUES ('a', "
      "'00000000000000aa', 1, 'OPENED', X'",
      absl::BytesToHexString(blob), "', 'pending', 0, 0)");
  ASSERT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  for (int open = 0; open < 2; ++open) {
    auto store = SqliteDeliveryStore::Open(path, "r");
    ASSERT_TRUE(store.ok()) << store.status();
    auto claimed = (*store)->Claim("a", T0(), 10, absl::Minutes(1));
    ASSERT_TRUE(claimed.ok()) << claimed.status();
    ASSERT_EQ(claimed->size(), 1u);  // "r" reclaims its own on the second
    EXPECT_EQ((*claimed)[0].finding.id(), "00000000000000aa");
  }
  RemoveSqliteFiles(path);
}

TEST(DeliveryStoreOpenTest, UnopenablePathFails) {
  auto store = SqliteDeliveryStore::Open("/nonexistent-dir-gp/x.db");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
