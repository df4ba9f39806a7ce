// The remediation records on a real SQLite file: the RecordStore contract
// (record_store_contract.cc) with two connections on one file, where the
// file lives, and a file of an older build brought up to date.
#include "aggregator/remediation/record_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/time_util.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/remediation/record_store_contract.h"

namespace ghostpeer::aggregator::remediation {
namespace {

using testing::RecordBackend;
using testing::RecordBackendName;
using testing::RecordStoreContractTest;
using testing::SharedRecordDatabase;

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

std::string TempPath(const std::string& what) {
  static std::atomic<int> next{0};
  return absl::StrCat(::testing::TempDir(), "/records-", getpid(), "-", what,
                      "-", ++next, ".db");
}

void RemoveSqliteFiles(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((path + suffix).c_str());
  }
}

SharedRecordDatabase NewSqliteDatabase() {
  const std::string path = TempPath("contract");
  RemoveSqliteFiles(path);
  return {[path]() -> absl::StatusOr<std::unique_ptr<RecordStore>> {
            return SqliteRecordStore::Open(path);
          },
          [path] { RemoveSqliteFiles(path); }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, RecordStoreContractTest,
                         ::testing::Values(RecordBackend{"sqlite",
                                                         NewSqliteDatabase}),
                         RecordBackendName);

StoredRemediation Order(const std::string& id, const std::string& finding) {
  StoredRemediation stored;
  stored.record.set_id(id);
  stored.record.set_finding_id(finding);
  stored.record.set_node("node-1");
  stored.record.set_decision(v1::REMEDIATION_DECISION_ORDERED);
  *stored.record.mutable_decided_at() = ToProto(kT0);
  stored.episode_us = 42;
  stored.awaiting = true;
  return stored;
}

TEST(RecordStorePathTest, BesideTheEngineFile) {
  EXPECT_EQ(RecordStorePath("/var/lib/ghostpeer/ghostpeer.db"),
            "/var/lib/ghostpeer/ghostpeer.db-remediations");
  EXPECT_EQ(RecordStorePath(":memory:"), ":memory:");
  absl::StatusOr<std::unique_ptr<SqliteRecordStore>> memory =
      SqliteRecordStore::Open(":memory:");
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_TRUE((*memory)->Put(Order("a", "f1")).ok());
}

TEST(RecordStoreOpenTest, UnwritablePathIsAnError) {
  absl::StatusOr<std::unique_ptr<SqliteRecordStore>> opened =
      SqliteRecordStore::Open("/nonexistent-dir/x/records.db");
  EXPECT_FALSE(opened.ok());
}

// A file issue 11's build wrote: its records stay, and the columns of
// issue 12 arrive, once.
TEST(RecordStoreOpenTest, AFileOfAnOlderBuildIsBroughtUpToDate) {
  const std::string path = TempPath("old");
  RemoveSqliteFiles(path);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string blob;
  ASSERT_TRUE(Order("old", "f1").record.SerializeToString(&blob));
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE remediations (seq INTEGER PRIMARY KEY "
                         "AUTOINCREMENT, id TEXT NOT NULL UNIQUE, finding_id "
                         "TEXT NOT NULL, node TEXT NOT NULL, decided_us "
                         "INTEGER NOT NULL, episode_us INTEGER NOT NULL, "
                         "awaiting INTEGER NOT NULL, dry_run_order INTEGER NOT "
                         "NULL, record BLOB NOT NULL)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  const std::string insert = absl::StrCat(
      "INSERT INTO remediations (id, finding_id, node, decided_us, "
      "episode_us, awaiting, dry_run_order, record) VALUES ('old', 'f1', "
      "'node-1', 1, 42, 1, 0, X'",
      absl::BytesToHexString(blob), "')");
  ASSERT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  for (int open = 0; open < 2; ++open) {
    absl::StatusOr<std::unique_ptr<SqliteRecordStore>> store =
        SqliteRecordStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::vector<StoredRemediation>> awaiting =
        (*store)->Awaiting();
    ASSERT_TRUE(awaiting.ok()) << awaiting.status();
    ASSERT_EQ(awaiting->size(), 1u);
    EXPECT_EQ(awaiting->front().record.id(), "old");
  }
  absl::StatusOr<std::unique_ptr<SqliteRecordStore>> store =
      SqliteRecordStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::optional<StoredRemediation>> lost =
      (*store)->AddDecision(Order("new", "f1"), "old");
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_FALSE(lost->has_value());
  lost = (*store)->AddDecision(Order("newer", "f1"), "old");
  ASSERT_TRUE(lost.ok()) << lost.status();
  ASSERT_TRUE(lost->has_value());
  EXPECT_EQ((*lost)->record.id(), "new");
  store->reset();
  RemoveSqliteFiles(path);
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation
