// The HistoryStore contract's tests (history_store_contract.h says who
// runs them against which store).
#include "tests/unit/aggregator/history_store_contract.h"

#include <memory>
#include <string>
#include <vector>

#include "aggregator/address_history.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator::testing {

void HistoryStoreContractTest::SetUp() {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store = GetParam().open(T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
}

namespace {

TEST_P(HistoryStoreContractTest, LoadReturnsWhatWasWritten) {
  WriteSample(*store_);
  ASSERT_TRUE(store_->SaveFindings({}, T(41)).ok());  // nothing to do
  EXPECT_EQ(store_->created_at(), T(1));
  absl::StatusOr<StoredState> state = store_->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->created_at, T(1));
  ExpectSample(*state);
}

TEST_P(HistoryStoreContractTest, SeqNeverGoesBack) {
  ASSERT_TRUE(store_->CommitAddressBatch("n", "i", 9, {}, T(2)).ok());
  ASSERT_TRUE(store_->CommitAddressBatch("n", "i", 4, {}, T(3)).ok());
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 9u);
}

TEST_P(HistoryStoreContractTest, AFailedBatchStoresNothing) {
  AddressHistory history;
  HistoryChanges changes = SomeChanges(&history);
  ASSERT_TRUE(store_->CommitAddressBatch("n", "i", 3, changes, T(2)).ok());
  // Re-inserting the same interval ids fails half-way through a batch that
  // also carries a new seq: all of it rolls back.
  HistoryChanges again = changes;
  absl::Status status = store_->CommitAddressBatch("n", "i", 7, again, T(3));
  EXPECT_FALSE(status.ok());
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->intervals.size(), 2u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
}

// Changes the aggregator makes on its own evidence (a lost node) move no
// seq, are all-or-nothing, and an empty set is no write.
TEST_P(HistoryStoreContractTest, HistoryChangesWithoutASeq) {
  ASSERT_TRUE(store_->CommitHistoryChanges({}).ok());
  AddressHistory history;
  HistoryChanges changes = SomeChanges(&history);
  ASSERT_TRUE(store_->CommitHistoryChanges(changes).ok());
  HistoryChanges lost;
  ASSERT_EQ(history.CloseNode("node-3", T(45), &lost), 1u);
  ASSERT_TRUE(store_->CommitHistoryChanges(lost).ok());
  EXPECT_FALSE(store_->CommitHistoryChanges(changes).ok());  // ids exist
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->seqs.empty());
  ASSERT_EQ(state->intervals.size(), 2u);
  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(state->intervals).ok());
  const AddressRecord* record = loaded.Find("10.0.1.6");
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->intervals[1].until, T(45));
  EXPECT_EQ(record->intervals[1].close_reason, v1::CLOSE_REASON_NODE_LOST);
}

TEST_P(HistoryStoreContractTest, FindingsAreReplacedById) {
  StoredFinding finding;
  finding.finding.set_id("f");
  finding.finding.set_status(v1::OPEN);
  ASSERT_TRUE(store_->SaveFindings({finding}, T(2)).ok());
  finding.finding.set_status(v1::RESOLVED);
  finding.memory = "later";
  ASSERT_TRUE(store_->SaveFindings({finding}, T(3)).ok());
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->findings.size(), 1u);
  EXPECT_EQ(state->findings[0].finding.status(), v1::RESOLVED);
  EXPECT_EQ(state->findings[0].memory, "later");
}

TEST_P(HistoryStoreContractTest,
       PurgeDropsOldClosedIntervalsResolvedFindingsAndSeqs) {
  AddressHistory history;
  ASSERT_TRUE(
      store_->CommitAddressBatch("n", "old", 2, SomeChanges(&history), T(5))
          .ok());
  ASSERT_TRUE(store_->CommitAddressBatch("n", "new", 1, {}, T(100)).ok());
  StoredFinding resolved, open;
  resolved.finding.set_id("r");
  resolved.finding.set_status(v1::RESOLVED);
  open.finding.set_id("o");
  open.finding.set_status(v1::OPEN);
  ASSERT_TRUE(store_->SaveFindings({resolved, open}, T(6)).ok());
  ASSERT_TRUE(store_->Purge(T(50)).ok());
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->intervals.size(), 1u);  // b.1, still open
  ASSERT_EQ(state->findings.size(), 1u);
  EXPECT_EQ(state->findings[0].finding.id(), "o");
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].agent_instance, "new");
}

}  // namespace
}  // namespace ghostpeer::aggregator::testing
