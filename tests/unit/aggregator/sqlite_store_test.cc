// What only SQLite does: files, reopening, corruption, schema, WAL. The
// contract every HistoryStore keeps is history_store_contract_test.cc.
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

using testing::ExpectSample;
using ::testing::HasSubstr;
using testing::T;
using testing::TempDb;
using testing::WriteSample;

TEST(SqliteStoreTest, ReopenKeepsHistorySeqsAndFindings) {
  TempDb db("reopen");
  {
    auto store = SqliteStore::Open(db.path(), T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    WriteSample(**store);
  }
  auto store = SqliteStore::Open(db.path(), T(99));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->created_at(), T(1));  // not re-stamped on reopen
  absl::StatusOr<StoredState> state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ExpectSample(*state);
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
