// The HistoryStore contract (history_store.h), run against every
// implementation: SQLite, and the in-memory fake the other tests trust to
// behave like it. A new store (PostgreSQL) joins the list below.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/history_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::fakes::InMemoryHistoryStore;
using testing::ExpectSample;
using ::testing::HasSubstr;
using testing::SomeChanges;
using testing::T;
using testing::WriteSample;

struct StoreKind {
  std::string name;
  // Opens an empty store created at `now`.
  std::function<absl::StatusOr<std::unique_ptr<HistoryStore>>(absl::Time now)>
      open;
};

const StoreKind kSqlite = {
    "sqlite", [](absl::Time now) { return OpenHistoryStore(":memory:", now); }};
const StoreKind kInMemory = {
    "in_memory",
    [](absl::Time now) -> absl::StatusOr<std::unique_ptr<HistoryStore>> {
      return std::make_unique<InMemoryHistoryStore>(now);
    }};

class HistoryStoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store = GetParam().open(T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<HistoryStore> store_;
};

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

INSTANTIATE_TEST_SUITE_P(Stores, HistoryStoreContractTest,
                         ::testing::Values(kSqlite, kInMemory),
                         [](const ::testing::TestParamInfo<StoreKind>& info) {
                           return info.param.name;
                         });

TEST(OpenHistoryStoreTest, OpensSqliteAndRefusesWhatItCannotOpen) {
  struct Case {
    std::string name;
    std::string location;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"sqlite in memory", ":memory:", absl::StatusCode::kOk, ""},
      {"empty", "", absl::StatusCode::kInvalidArgument, "empty location"},
      {"a server url", "postgresql://db.example/ghostpeer",
       absl::StatusCode::kInvalidArgument, "\"postgresql://\""},
      {"a file in no directory", "/nonexistent-dir-ghostpeer/sub/g.db",
       absl::StatusCode::kFailedPrecondition, "/nonexistent-dir-ghostpeer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(c.location, T(1));
    EXPECT_EQ(store.status().code(), c.code) << store.status();
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(c.message));
  }
}

// The fake's own knob: exactly the next N writes of one kind fail, store
// nothing, and are not counted as successes.
TEST(InMemoryHistoryStoreTest, FailsExactlyTheInjectedWrites) {
  InMemoryHistoryStore store(T(1));
  store.FailNext(InMemoryHistoryStore::Write::kAddressBatch, 2,
                 absl::ResourceExhaustedError("disk full"));
  EXPECT_EQ(store.CommitAddressBatch("n", "i", 1, {}, T(2)).code(),
            absl::StatusCode::kResourceExhausted);
  // Other kinds of writes are not affected.
  StoredFinding finding;
  finding.finding.set_id("f");
  EXPECT_TRUE(store.SaveFindings({finding}, T(2)).ok());
  EXPECT_EQ(store.CommitAddressBatch("n", "i", 2, {}, T(3)).code(),
            absl::StatusCode::kResourceExhausted);
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->seqs.empty());
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kAddressBatch),
            0);

  EXPECT_TRUE(store.CommitAddressBatch("n", "i", 3, {}, T(4)).ok());
  state = store.Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kAddressBatch),
            1);
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kFindings), 1);
}

}  // namespace
}  // namespace ghostpeer::aggregator
