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

// A database as schema version 1 wrote it (before address scopes), with
// one interval whose owner says no scope.
void WriteVersion1(const std::string& path) {
  v1::AddressOwner owner = testing::Container("172.18.0.3", "old.1", "node-2");
  const std::string blob = owner.SerializeAsString();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, R"sql(
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version VALUES (1);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('created_us', '1800000001000000');
    CREATE TABLE intervals (
      id INTEGER PRIMARY KEY, address TEXT NOT NULL, owner BLOB NOT NULL,
      reporter TEXT NOT NULL, source INTEGER NOT NULL,
      since_us INTEGER NOT NULL, until_us INTEGER);
    CREATE INDEX intervals_by_until ON intervals (until_us)
      WHERE until_us IS NOT NULL;
    CREATE TABLE agent_seqs (
      node TEXT NOT NULL, agent_instance TEXT NOT NULL, seq INTEGER NOT NULL,
      updated_us INTEGER NOT NULL, PRIMARY KEY (node, agent_instance)
    ) WITHOUT ROWID;
    CREATE TABLE findings (
      id TEXT PRIMARY KEY, node TEXT NOT NULL, status INTEGER NOT NULL,
      updated_us INTEGER NOT NULL, finding BLOB NOT NULL,
      memory BLOB NOT NULL) WITHOUT ROWID;
  )sql",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_stmt* insert = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw,
                               "INSERT INTO intervals VALUES (7, '172.18.0.3', "
                               "?, 'node-2', 1, 1800000002000000, NULL)",
                               -1, &insert, nullptr),
            SQLITE_OK);
  sqlite3_bind_blob(insert, 1, blob.data(), static_cast<int>(blob.size()),
                    SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE);
  sqlite3_finalize(insert);
  sqlite3_close(raw);
}

// "version|id:scope_node,..." read straight from the file.
std::string SchemaAndScopeNodes(const std::string& path) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  std::string out;
  auto append = [](void* into, int columns, char** values, char**) {
    auto* text = static_cast<std::string*>(into);
    for (int i = 0; i < columns; ++i) {
      absl::StrAppend(text, i > 0 ? ":" : "", values[i] ? values[i] : "NULL");
    }
    absl::StrAppend(text, ",");
    return 0;
  };
  EXPECT_EQ(sqlite3_exec(raw, "SELECT version FROM schema_version", append,
                         &out, nullptr),
            SQLITE_OK);
  out += "|";
  EXPECT_EQ(
      sqlite3_exec(raw, "SELECT id, scope_node FROM intervals ORDER BY id",
                   append, &out, nullptr),
      SQLITE_OK);
  sqlite3_close(raw);
  return out;
}

TEST(SqliteStoreTest, Version1GainsAddressScopesAndKeepsItsHistory) {
  TempDb db("v1");
  WriteVersion1(db.path());
  {
    auto store = SqliteStore::Open(db.path(), T(99));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->created_at(), T(1));
    auto state = (*store)->Load();
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->intervals.size(), 1u);
    // Unscoped, hence cluster-wide: old history reads as it always did.
    EXPECT_EQ(state->intervals[0].owner.scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
    EXPECT_TRUE(ReachableFrom(state->intervals[0].owner, "node-1"));

    // A node-local interval of another node reusing the address, and the
    // old one scoped by a merge.
    OwnershipInterval bridge;
    bridge.id = 8;
    bridge.owner = testing::Container("172.18.0.3", "new.1", "node-3");
    bridge.owner.set_scope(v1::ADDRESS_SCOPE_NODE);
    bridge.reporter = "node-3";
    bridge.source = v1::OBSERVATION;
    bridge.since = T(5);
    OwnershipInterval scoped = state->intervals[0];
    scoped.owner.set_scope(v1::ADDRESS_SCOPE_NODE);
    ASSERT_TRUE(
        (*store)
            ->CommitAddressBatch(
                "node-3", "i", 1,
                {{HistoryOp::Kind::kInsert, bridge, {}},
                 {HistoryOp::Kind::kUpdateOwner, scoped, state->intervals[0]}},
                T(6))
            .ok());
  }
  EXPECT_EQ(SchemaAndScopeNodes(db.path()),
            absl::StrCat(kSchemaVersion, ",|7:node-2,8:node-3,"));
  auto store = SqliteStore::Open(db.path(), T(99));
  ASSERT_TRUE(store.ok()) << store.status();
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->intervals.size(), 2u);
  for (const OwnershipInterval& interval : state->intervals) {
    EXPECT_EQ(interval.owner.scope(), v1::ADDRESS_SCOPE_NODE) << interval.id;
  }
}

// Loads what the database at `path` holds into `*history` (reopening it,
// as a restart does).
void LoadHistory(const std::string& path, AddressHistory* history) {
  auto store = SqliteStore::Open(path, T(99));
  ASSERT_TRUE(store.ok()) << store.status();
  auto state = (*store)->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(history->Load(state->intervals).ok());
}

void Exec(const std::string& path, const char* sql) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(raw);
  sqlite3_close(raw);
}

// Versions before close reasons kept none: their intervals load with none
// and keep their times, and closes from then on store theirs.
TEST(SqliteStoreTest, OlderVersionsGainCloseReasonsFromThenOn) {
  TempDb db("reasons_v1");
  WriteVersion1(db.path());
  // An interval version 1 closed (same owner blob as id 7, which is open).
  Exec(db.path(),
       "INSERT INTO intervals SELECT 6, address, owner, reporter, source, "
       "1800000000000000, 1800000001000000 FROM intervals WHERE id = 7");
  AddressHistory migrated;
  LoadHistory(db.path(), &migrated);
  const AddressRecord* record = migrated.Find("172.18.0.3");
  ASSERT_NE(record, nullptr);
  ASSERT_EQ(record->intervals.size(), 2u);
  EXPECT_EQ(record->intervals[0].until, T(1));
  EXPECT_EQ(record->intervals[0].close_reason, v1::CLOSE_REASON_UNSPECIFIED);
  EXPECT_TRUE(record->intervals[1].open());
  // The open one is lost with its node now.
  HistoryChanges changes;
  EXPECT_EQ(migrated.CloseNode("node-2", T(30), &changes), 1u);
  {
    auto store = SqliteStore::Open(db.path(), T(99));
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(
        (*store)->CommitAddressBatch("node-1", "i", 1, changes, T(30)).ok());
  }
  AddressHistory reloaded;
  LoadHistory(db.path(), &reloaded);
  record = reloaded.Find("172.18.0.3");
  ASSERT_NE(record, nullptr);
  ASSERT_EQ(record->intervals.size(), 2u);
  EXPECT_EQ(record->intervals[1].until, T(30));
  EXPECT_EQ(record->intervals[1].close_reason, v1::CLOSE_REASON_NODE_LOST);
  EXPECT_EQ(record->intervals[1].ToProto().close_reason(),
            v1::CLOSE_REASON_NODE_LOST);
}

// A zero-length interval (inserted closed) keeps its reason; a reason some
// newer build wrote that this one does not know reads as unspecified.
TEST(SqliteStoreTest, InsertedClosedKeepsReasonAndUnknownReadsUnspecified) {
  TempDb db("reasons");
  {
    auto store = SqliteStore::Open(db.path(), T(1));
    ASSERT_TRUE(store.ok()) << store.status();
    AddressHistory history;
    HistoryChanges changes;
    v1::AddressOwner dead = testing::Container("10.0.1.6", "a.1");
    dead.set_close_reason(v1::CLOSE_REASON_CONTAINER_DIED);
    history.Apply("node-2", testing::Detach(1, T(20), dead, v1::DOCKER_EVENT),
                  &changes);
    const v1::AddressOwner other = testing::Container("10.0.1.7", "b");
    history.Apply("node-2", testing::Attach(2, T(20), other), &changes);
    history.Apply("node-2", testing::Detach(3, T(25), other), &changes);
    ASSERT_TRUE(
        (*store)->CommitAddressBatch("node-2", "i", 3, changes, T(30)).ok());
  }
  Exec(db.path(),
       "UPDATE intervals SET close_reason = 1000 WHERE address = '10.0.1.7'");
  AddressHistory history;
  LoadHistory(db.path(), &history);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].close_reason,
            v1::CLOSE_REASON_CONTAINER_DIED);
  EXPECT_EQ(history.Find("10.0.1.7")->intervals[0].close_reason,
            v1::CLOSE_REASON_UNSPECIFIED);
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
