#include "aggregator/alerts/delivery_store.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "aggregator/engine.h"
#include "gtest/gtest.h"
#include "test_findings.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::Resolved;
using testing::T0;
using testing::VanishedFinding;

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
    auto store = DeliveryStore::Open(path_);
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

TEST_F(DeliveryStoreTest, SharesTheEngineDatabaseFile) {
  // The Engine owns the file's schema; ours lives beside it.
  store_.reset();
  RemoveFiles();
  EngineOptions options;
  options.db_path = path_;
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  Reopen();
  ASSERT_TRUE(
      store_->Enqueue("a", DeliveryEvent::kOpened, VanishedFinding(), T0())
          .ok());
  engine->reset();
  options.db_path = path_;
  auto reopened = Engine::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(store_->Ping().ok());
  EXPECT_EQ(Due("a", T0()).size(), 1u);
}

TEST(DeliveryStoreOpenTest, UnopenablePathFails) {
  auto store = DeliveryStore::Open("/nonexistent-dir-gp/x.db");
  EXPECT_FALSE(store.ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
