#include "aggregator/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Attach;
using testing::Container;
using testing::Detach;
using ::testing::HasSubstr;
using testing::T;
using testing::TempDb;

HistoryChanges SomeChanges(AddressHistory* history) {
  HistoryChanges changes;
  history->Apply("node-2", Attach(1, T(10), Container("10.0.1.6", "a.1")),
                 &changes);
  history->Apply("node-2", Detach(2, T(20), Container("10.0.1.6", "a.1")),
                 &changes);
  history->Apply("node-3",
                 Attach(1, T(30), Container("10.0.1.6", "b.1", "node-3")),
                 &changes);
  return changes;
}

TEST(SqliteStoreTest, ReopenKeepsHistorySeqsAndFindings) {
  TempDb db("reopen");
  {
    auto store = SqliteStore::Open(db.path(), T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    AddressHistory history;
    ASSERT_TRUE((*store)
                    ->CommitAddressBatch("node-2", "inst-1", 2,
                                         SomeChanges(&history), T(40))
                    .ok());
    StoredFinding finding;
    finding.finding.set_id("00000000deadbeef");
    finding.finding.set_status(v1::OPEN);
    finding.finding.mutable_socket()->set_node("node-1");
    *finding.finding.mutable_first_seen() = ToProto(T(35));
    finding.memory = "memory";
    ASSERT_TRUE((*store)->SaveFindings({finding}, T(40)).ok());
  }
  auto store = SqliteStore::Open(db.path(), T(99));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->created_at(), T(1));  // not re-stamped on reopen
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->intervals.size(), 2u);
  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(state->intervals).ok());
  const AddressRecord* record = loaded.Find("10.0.1.6");
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->intervals[0].owner.task(), "a.1");
  EXPECT_EQ(record->intervals[0].since, T(10));
  EXPECT_EQ(record->intervals[0].until, T(20));
  EXPECT_EQ(record->intervals[0].reporter, "node-2");
  EXPECT_EQ(record->intervals[0].source, v1::OBSERVATION);
  EXPECT_TRUE(record->intervals[1].open());
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].node, "node-2");
  EXPECT_EQ(state->seqs[0].agent_instance, "inst-1");
  EXPECT_EQ(state->seqs[0].seq, 2u);
  ASSERT_EQ(state->findings.size(), 1u);
  EXPECT_EQ(state->findings[0].finding.id(), "00000000deadbeef");
  EXPECT_EQ(FromProto(state->findings[0].finding.first_seen()), T(35));
  EXPECT_EQ(state->findings[0].memory, "memory");
}

TEST(SqliteStoreTest, SeqNeverGoesBack) {
  auto store = SqliteStore::Open(":memory:", T(1));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", 9, {}, T(2)).ok());
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", 4, {}, T(3)).ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 9u);
}

// Seqs are uint64 end to end; SQLite integers are int64. Each step is a
// commit, then the file is reopened and the stored seq read back: it must be
// the largest committed so far, compared as unsigned.
TEST(SqliteStoreTest, SeqsFrom2To63UpSurviveReopenAndNeverGoBack) {
  constexpr uint64_t kHalf = uint64_t{1} << 63;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  struct Step {
    std::string name;
    uint64_t commit;
    uint64_t stored;
  };
  const std::vector<Step> steps = {
      {"small", 10, 10},
      {"past_2^63", kHalf + 5, kHalf + 5},
      {"smaller_signed_positive_is_ignored", 11, kHalf + 5},
      {"larger_past_2^63", kHalf + 6, kHalf + 6},
      {"smaller_past_2^63_is_ignored", kHalf + 1, kHalf + 6},
      {"uint64_max", kMax, kMax},
      {"nothing_passes_uint64_max", kHalf + 7, kMax},
  };
  TempDb db("seq64");
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(steps[i].name);
    {
      auto store = SqliteStore::Open(db.path(), T(1));
      ASSERT_TRUE(store.ok()) << store.status();
      ASSERT_TRUE((*store)
                      ->CommitAddressBatch("n", "i", steps[i].commit, {},
                                           T(2 + static_cast<double>(i)))
                      .ok());
    }
    auto store = SqliteStore::Open(db.path(), T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    auto state = (*store)->Load();
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->seqs.size(), 1u);
    EXPECT_EQ(state->seqs[0].seq, steps[i].stored);
  }
}

TEST(SqliteStoreTest, AFailedBatchStoresNothing) {
  auto store = SqliteStore::Open(":memory:", T(1));
  ASSERT_TRUE(store.ok());
  AddressHistory history;
  HistoryChanges changes = SomeChanges(&history);
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", 3, changes, T(2)).ok());
  // Re-inserting the same interval ids violates the primary key half-way
  // through a batch that also carries a new seq: all of it rolls back.
  HistoryChanges again = changes;
  absl::Status status = (*store)->CommitAddressBatch("n", "i", 7, again, T(3));
  EXPECT_FALSE(status.ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->intervals.size(), 2u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
}

TEST(SqliteStoreTest, PurgeDropsOldClosedIntervalsResolvedFindingsAndSeqs) {
  auto store = SqliteStore::Open(":memory:", T(1));
  ASSERT_TRUE(store.ok());
  AddressHistory history;
  ASSERT_TRUE(
      (*store)
          ->CommitAddressBatch("n", "old", 2, SomeChanges(&history), T(5))
          .ok());
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "new", 1, {}, T(100)).ok());
  StoredFinding resolved, open;
  resolved.finding.set_id("r");
  resolved.finding.set_status(v1::RESOLVED);
  open.finding.set_id("o");
  open.finding.set_status(v1::OPEN);
  ASSERT_TRUE((*store)->SaveFindings({resolved, open}, T(6)).ok());
  ASSERT_TRUE((*store)->Purge(T(50)).ok());
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->intervals.size(), 1u);  // b.1, still open
  ASSERT_EQ(state->findings.size(), 1u);
  EXPECT_EQ(state->findings[0].finding.id(), "o");
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].agent_instance, "new");
}

TEST(SqliteStoreTest, NotADatabaseIsDataLoss) {
  TempDb db("garbage");
  {
    std::ofstream out(db.path());
    out << std::string(8192, 'x');
  }
  auto store = SqliteStore::Open(db.path(), T(1));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(db.path()));
}

TEST(SqliteStoreTest, UnopenablePathIsFailedPrecondition) {
  auto store =
      SqliteStore::Open("/nonexistent-dir-ghostpeer/sub/ghostpeer.db", T(1));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("/nonexistent-dir-ghostpeer"));
}

TEST(SqliteStoreTest, NewerSchemaIsRefused) {
  TempDb db("newer");
  {
    auto store = SqliteStore::Open(db.path(), T(1));
    ASSERT_TRUE(store.ok());
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.path().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto store = SqliteStore::Open(db.path(), T(1));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("version 99"));
}

TEST(SqliteStoreTest, UsesWal) {
  TempDb db("wal");
  auto store = SqliteStore::Open(db.path(), T(1));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CommitAddressBatch("n", "i", 1, {}, T(2)).ok());
  struct stat st;
  EXPECT_EQ(stat((db.path() + "-wal").c_str(), &st), 0);
}

}  // namespace
}  // namespace ghostpeer::aggregator
