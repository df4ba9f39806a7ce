#include "tests/unit/aggregator/remediation/record_store_contract.h"

#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::remediation::testing {

void RecordStoreContractTest::SetUp() {
  database_ = GetParam().new_database();
  ASSERT_TRUE(database_.open);
  ReopenA();
  absl::StatusOr<std::unique_ptr<RecordStore>> b = database_.open();
  ASSERT_TRUE(b.ok()) << b.status();
  b_ = *std::move(b);
}

void RecordStoreContractTest::ReopenA() {
  a_.reset();
  absl::StatusOr<std::unique_ptr<RecordStore>> a = database_.open();
  ASSERT_TRUE(a.ok()) << a.status();
  a_ = *std::move(a);
}

void RecordStoreContractTest::TearDown() {
  a_.reset();
  b_.reset();
  if (database_.cleanup) database_.cleanup();
}

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

TEST_P(RecordStoreContractTest, PutGetListNewestFirst) {
  ASSERT_TRUE(a_->Put(Record("a", "f1", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      a_->Put(Record("b", "f2", "node-2", kT0 + absl::Seconds(1), false)).ok());
  ASSERT_TRUE(
      a_->Put(Record("c", "f1", "node-1", kT0 + absl::Seconds(2), false)).ok());
  absl::StatusOr<std::vector<StoredRemediation>> all = a_->List("", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].record.id(), "c");
  EXPECT_EQ((*all)[2].record.id(), "a");
  EXPECT_EQ((*all)[2].episode_us, 42);
  EXPECT_TRUE((*all)[2].awaiting);

  absl::StatusOr<std::vector<StoredRemediation>> f1 = a_->List("f1", "", 10);
  ASSERT_TRUE(f1.ok());
  EXPECT_EQ(f1->size(), 2u);
  absl::StatusOr<std::vector<StoredRemediation>> node2 =
      a_->List("", "node-2", 10);
  ASSERT_TRUE(node2.ok());
  ASSERT_EQ(node2->size(), 1u);
  EXPECT_EQ(node2->front().record.id(), "b");
  absl::StatusOr<std::vector<StoredRemediation>> one = a_->List("", "", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);

  absl::StatusOr<std::optional<StoredRemediation>> got = a_->Get("b");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->record.finding_id(), "f2");
  absl::StatusOr<std::optional<StoredRemediation>> none = a_->Get("zz");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(RecordStoreContractTest, PutReplacesByIdAndAwaitingFollows) {
  StoredRemediation order = Record("a", "f1", "node-1", kT0, true);
  ASSERT_TRUE(a_->Put(order).ok());
  absl::StatusOr<std::vector<StoredRemediation>> awaiting = a_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  ASSERT_EQ(awaiting->size(), 1u);

  order.awaiting = false;
  order.record.mutable_outcome()->set_outcome(v1::REMEDIATION_DESTROYED);
  ASSERT_TRUE(a_->Put(order).ok());
  awaiting = a_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  EXPECT_TRUE(awaiting->empty());
  absl::StatusOr<std::vector<StoredRemediation>> all = a_->List("", "", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().record.outcome().outcome(), v1::REMEDIATION_DESTROYED);
}

TEST_P(RecordStoreContractTest, SurvivesReopen) {
  ASSERT_TRUE(a_->Put(Record("a", "f1", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      a_->Put(Record("b", "f1", "node-1", kT0 + absl::Seconds(1), false)).ok());
  ReopenA();
  absl::StatusOr<std::vector<StoredRemediation>> latest =
      a_->LatestPerFinding();
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ(latest->front().record.id(), "b");
  absl::StatusOr<std::vector<StoredRemediation>> awaiting = a_->Awaiting();
  ASSERT_TRUE(awaiting.ok());
  ASSERT_EQ(awaiting->size(), 1u);
  EXPECT_EQ(awaiting->front().record.id(), "a");
}

TEST_P(RecordStoreContractTest, PurgeKeepsRecentAndAwaited) {
  ASSERT_TRUE(a_->Put(Record("old", "f1", "node-1", kT0, false)).ok());
  ASSERT_TRUE(a_->Put(Record("old-awaited", "f2", "node-1", kT0, true)).ok());
  ASSERT_TRUE(
      a_->Put(Record("new", "f3", "node-1", kT0 + absl::Hours(2), false)).ok());
  absl::StatusOr<int64_t> purged = a_->Purge(kT0 + absl::Hours(1));
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 1);
  absl::StatusOr<std::vector<StoredRemediation>> all = a_->List("", "", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].record.id(), "new");
  EXPECT_EQ((*all)[1].record.id(), "old-awaited");
}

// Two replicas judging the same finding from the same view (neither knew
// a decision about it): one decision is recorded, and the loser reads the
// winner's.
TEST_P(RecordStoreContractTest, TwoReplicasDecidingOneEpisodeMakeOneDecision) {
  const StoredRemediation by_a = Record("f1-1-1", "f1", "node-1", kT0, true);
  const StoredRemediation by_b = Record("f1-1-2", "f1", "node-1", kT0, true);
  absl::StatusOr<std::optional<StoredRemediation>> a_lost =
      a_->AddDecision(by_a, "");
  ASSERT_TRUE(a_lost.ok()) << a_lost.status();
  EXPECT_FALSE(a_lost->has_value());
  absl::StatusOr<std::optional<StoredRemediation>> b_lost =
      b_->AddDecision(by_b, "");
  ASSERT_TRUE(b_lost.ok()) << b_lost.status();
  ASSERT_TRUE(b_lost->has_value());
  EXPECT_EQ((*b_lost)->record.id(), "f1-1-1");
  EXPECT_TRUE((*b_lost)->awaiting);
  // The next decision follows the winner: once, too.
  absl::StatusOr<std::optional<StoredRemediation>> next =
      b_->AddDecision(Record("f1-2-1", "f1", "node-1", kT0, false), "f1-1-1");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_value());
  // A replica still believing f1-1-1 is the newest learns of f1-2-1.
  next = a_->AddDecision(Record("f1-2-2", "f1", "node-1", kT0, true), "f1-1-1");
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->record.id(), "f1-2-1");
  absl::StatusOr<std::vector<StoredRemediation>> all = b_->List("f1", "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);
}

TEST_P(RecordStoreContractTest, ConcurrentReplicasDecideEachFindingOnce) {
  constexpr int kFindings = 60;
  auto replica = [](RecordStore* store, const std::string& name,
                    std::map<std::string, bool>* won) {
    for (int i = 0; i < kFindings; ++i) {
      const std::string finding = absl::StrCat("f", i);
      absl::StatusOr<std::optional<StoredRemediation>> lost =
          store->AddDecision(Record(absl::StrCat(finding, "-", name), finding,
                                    "node-1", kT0, true),
                             "");
      ASSERT_TRUE(lost.ok()) << lost.status();
      (*won)[finding] = !lost->has_value();
    }
  };
  std::map<std::string, bool> a_won;
  std::map<std::string, bool> b_won;
  std::thread a(replica, a_.get(), "a", &a_won);
  std::thread b(replica, b_.get(), "b", &b_won);
  a.join();
  b.join();
  absl::StatusOr<std::vector<StoredRemediation>> all = a_->List("", "", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), static_cast<size_t>(kFindings));
  for (int i = 0; i < kFindings; ++i) {
    const std::string finding = absl::StrCat("f", i);
    EXPECT_NE(a_won[finding], b_won[finding]) << finding;
  }
}

TEST_P(RecordStoreContractTest, AnAnsweredRecordIsNeverReplacedByAnUnanswered) {
  StoredRemediation order = Record("o", "f1", "node-1", kT0, true);
  order.record.set_attempts(3);
  ASSERT_TRUE(a_->Put(order).ok());
  // Replica a receives the outcome while replica b gives the order up from
  // what it read before.
  StoredRemediation answered = order;
  answered.awaiting = false;
  answered.record.mutable_outcome()->set_outcome(v1::REMEDIATION_DESTROYED);
  StoredRemediation given_up = order;
  given_up.awaiting = false;
  given_up.record.set_reason("no answer after 3 sends");
  ASSERT_TRUE(a_->Put(answered).ok());
  ASSERT_TRUE(b_->Put(given_up).ok());
  absl::StatusOr<std::optional<StoredRemediation>> got = b_->Get("o");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->record.outcome().outcome(), v1::REMEDIATION_DESTROYED);
  EXPECT_FALSE((*got)->awaiting);
}

TEST_P(RecordStoreContractTest, ATakenRecordIdIsAnError) {
  ASSERT_TRUE(a_->AddDecision(Record("x", "f1", "n", kT0, true), "").ok());
  absl::StatusOr<std::optional<StoredRemediation>> again =
      b_->AddDecision(Record("x", "f2", "n", kT0, true), "");
  EXPECT_FALSE(again.ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation::testing
