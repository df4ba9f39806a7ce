// The remediation records on a real SQLite file: what is put comes back,
// newest first, filtered, survives a reopen, and is purged with retention.
#include "aggregator/remediation/record_store.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/time_util.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::remediation {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

StoredRemediation Record(const std::string& id, const std::string& finding,
                         const std::string& node, absl::Time decided,
                         bool awaiting) {
  StoredRemediation stored;
  stored.record.set_id(id);
  stored.record.set_finding_id(finding);
  stored.record.set_node(node);
  stored.record.set_decision(awaiting ? v1::REMEDIATION_DECISION_ORDERED
                                      : v1::REMEDIATION_DECISION_DECLINED);
  stored.record.set_requested_by("policy");
  stored.record.set_reason("because");
  *stored.record.mutable_decided_at() = ToProto(decided);
  stored.episode_us = 42;
  stored.awaiting = awaiting;
  return stored;
}

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(
        ::testing::TempDir(), "/records-", getpid(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    std::remove(path_.c_str());
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((path_ + suffix).c_str());
    }
  }
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<RecordStore>> opened =
        RecordStore::Open(path_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
  }

  std::string path_;
  std::unique_ptr<RecordStore> store_;
};

TEST_F(RecordStoreTest, PutGetListNewestFirst) {
  ASSERT_TRUE(store_->Put(Record("a", "f1", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      store_->Put(Record("b", "f2", "node-2", kT0 + absl::Seconds(1), false))
          .ok());
  ASSERT_TRUE(
      store_->Put(Record("c", "f1", "node-1", kT0 + absl::Seconds(2), false))
          .ok());
  absl::StatusOr<std::vector<StoredRemediation>> all = store_->List("", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].record.id(), "c");
  EXPECT_EQ((*all)[2].record.id(), "a");
  EXPECT_EQ((*all)[2].episode_us, 42);
  EXPECT_TRUE((*all)[2].awaiting);

  absl::StatusOr<std::vector<StoredRemediation>> f1 =
      store_->List("f1", "", 10);
  ASSERT_TRUE(f1.ok());
  EXPECT_EQ(f1->size(), 2u);
  absl::StatusOr<std::vector<StoredRemediation>> node2 =
      store_->List("", "node-2", 10);
  ASSERT_TRUE(node2.ok());
  ASSERT_EQ(node2->size(), 1u);
  EXPECT_EQ(node2->front().record.id(), "b");
  absl::StatusOr<std::vector<StoredRemediation>> one = store_->List("", "", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  absl::StatusOr<std::optional<StoredRemediation>> got = store_->Get("b");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->record.finding_id(), "f2");
  absl::StatusOr<std::optional<StoredRemediation>> none = store_->Get("zz");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(RecordStoreTest, PutReplacesByIdAndAwaitingFollows) {
  StoredRemediation order = Record("a", "f1", "node-1", kT0, true);
  ASSERT_TRUE(store_->Put(order).ok());
  absl::StatusOr<std::vector<StoredRemediation>> awaiting = store_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  ASSERT_EQ(awaiting->size(), 1u);

  order.awaiting = false;
  order.record.mutable_outcome()->set_outcome(v1::REMEDIATION_DESTROYED);
  ASSERT_TRUE(store_->Put(order).ok());
  awaiting = store_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  EXPECT_TRUE(awaiting->empty());
  absl::StatusOr<std::vector<StoredRemediation>> all = store_->List("", "", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().record.outcome().outcome(), v1::REMEDIATION_DESTROYED);
}

TEST_F(RecordStoreTest, SurvivesReopen) {
  ASSERT_TRUE(store_->Put(Record("a", "f1", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      store_->Put(Record("b", "f1", "node-1", kT0 + absl::Seconds(1), false))
          .ok());
  Reopen();
  absl::StatusOr<std::vector<StoredRemediation>> latest =
      store_->LatestPerFinding();
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ(latest->front().record.id(), "b");
  absl::StatusOr<std::vector<StoredRemediation>> awaiting = store_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  ASSERT_EQ(awaiting->size(), 1u);
  EXPECT_EQ(awaiting->front().record.id(), "a");
}

TEST_F(RecordStoreTest, PurgeKeepsRecentAndAwaited) {
  ASSERT_TRUE(store_->Put(Record("old", "f1", "node-1", kT0, false)).ok());
  ASSERT_TRUE(
      store_->Put(Record("old-awaited", "f2", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      store_->Put(Record("new", "f3", "node-1", kT0 + absl::Hours(2), false))
          .ok());
  absl::StatusOr<int64_t> purged = store_->Purge(kT0 + absl::Hours(1));
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 1);
  absl::StatusOr<std::vector<StoredRemediation>> all = store_->List("", "", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].record.id(), "new");
  EXPECT_EQ((*all)[1].record.id(), "old-awaited");
}

TEST(RecordStorePathTest, BesideTheEngineFile) {
  EXPECT_EQ(RecordStorePath("/var/lib/ghostpeer/ghostpeer.db"),
            "/var/lib/ghostpeer/ghostpeer.db-remediations");
  EXPECT_EQ(RecordStorePath(":memory:"), ":memory:");
  absl::StatusOr<std::unique_ptr<RecordStore>> memory =
      RecordStore::Open(":memory:");
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_TRUE((*memory)->Put(Record("a", "f1", "node-1", kT0, true)).ok());
}

TEST(RecordStoreOpenTest, UnwritablePathIsAnError) {
  absl::StatusOr<std::unique_ptr<RecordStore>> opened =
      RecordStore::Open("/nonexistent-dir/x/records.db");
  EXPECT_FALSE(opened.ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation
