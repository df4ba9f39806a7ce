#include "aggregator/remediation/record_store.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "aggregator/sqlite_statement.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::remediation {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// The record is the proto (what List returns); the columns beside it are
// what queries select and order by.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS remediations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  finding_id TEXT NOT NULL,
  node TEXT NOT NULL,
  decided_us INTEGER NOT NULL,
  episode_us INTEGER NOT NULL,
  awaiting INTEGER NOT NULL,
  dry_run_order INTEGER NOT NULL,
  record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS remediations_finding ON remediations (finding_id);
CREATE INDEX IF NOT EXISTS remediations_node ON remediations (node);
CREATE INDEX IF NOT EXISTS remediations_awaiting ON remediations (awaiting);
)sql";

// Issue 12: the decision chain's key (AddDecision) and whether the record
// holds an outcome (Put never replaces one that does with one that does
// not). Added to files of older builds by AddColumns.
constexpr const char* kIssue12Columns = R"sql(
BEGIN IMMEDIATE;
ALTER TABLE remediations ADD COLUMN decision_key TEXT;
ALTER TABLE remediations ADD COLUMN answered INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX remediations_decision_key ON remediations (decision_key);
COMMIT;
)sql";

constexpr const char* kColumns =
    "record, episode_us, awaiting, dry_run_order FROM remediations";

}  // namespace

std::string DecisionKey(const std::string& finding_id,
                        const std::string& previous_id) {
  // Record ids begin with their finding's id: "after <id>" alone is unique.
  return previous_id.empty() ? absl::StrCat("first ", finding_id)
                             : absl::StrCat("after ", previous_id);
}

std::string RecordStorePath(const std::string& engine_db_path) {
  if (engine_db_path == ":memory:") return engine_db_path;
  return engine_db_path + "-remediations";
}

absl::StatusOr<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::Open(
    const std::string& path) {
  const std::string context = absl::StrCat("remediation store ", path);
  absl::StatusOr<sqlite3*> db = SqliteOpen(path, context, kBusyTimeoutMs);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteRecordStore> store(new SqliteRecordStore(*db, path));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = SqliteExec(*db, context, kSchema); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  if (absl::Status s = store->AddColumns(); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  return store;
}

absl::Status SqliteRecordStore::AddColumns() {
  SqliteStatement has_column(db_,
                             "SELECT 1 FROM pragma_table_info('remediations') "
                             "WHERE name = 'decision_key'");
  if (!has_column.ok()) return Error("prepare read schema");
  const int rc = has_column.Step();
  if (rc == SQLITE_ROW) return absl::OkStatus();
  if (rc != SQLITE_DONE) return Error("read schema");
  if (absl::Status s = SqliteExec(
          db_, absl::StrCat("remediation store ", path_), kIssue12Columns);
      !s.ok()) {
    (void)SqliteExec(db_, path_, "ROLLBACK");
    return s;
  }
  return absl::OkStatus();
}

SqliteRecordStore::~SqliteRecordStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status SqliteRecordStore::Error(absl::string_view what) {
  return SqliteError(db_, absl::StrCat("remediation store ", path_), what);
}

absl::StatusOr<std::optional<StoredRemediation>> SqliteRecordStore::AddDecision(
    const StoredRemediation& stored, const std::string& previous_id) {
  const v1::Remediation& record = stored.record;
  std::string blob;
  if (!record.SerializeToString(&blob)) {
    return absl::InternalError("remediation record does not serialize");
  }
  absl::MutexLock lock(&mu_);
  {
    SqliteStatement add(
        db_,
        "INSERT INTO remediations (id, finding_id, node, decided_us, "
        "episode_us, awaiting, dry_run_order, answered, decision_key, record) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (decision_key) DO "
        "NOTHING");
    if (!add.ok()) return Error("prepare add decision");
    add.Bind(1, record.id());
    add.Bind(2, record.finding_id());
    add.Bind(3, record.node());
    add.Bind(4, absl::ToUnixMicros(FromProto(record.decided_at())));
    add.Bind(5, stored.episode_us);
    add.Bind(6, int64_t{stored.awaiting});
    add.Bind(7, int64_t{stored.dry_run_order});
    add.Bind(8, int64_t{record.has_outcome()});
    add.Bind(9, DecisionKey(record.finding_id(), previous_id));
    add.BindBlob(10, blob);
    const int rc = add.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return absl::AlreadyExistsError(absl::StrCat(
          "remediation store ", path_, ": record ", record.id(), " exists"));
    }
    if (rc != SQLITE_DONE) return Error("add decision");
    if (sqlite3_changes(db_) > 0) return std::nullopt;
  }
  const std::string sql = absl::StrCat(
      "SELECT ", kColumns, " WHERE finding_id = ? ORDER BY seq DESC LIMIT 1");
  absl::StatusOr<std::vector<StoredRemediation>> newest =
      Select(sql.c_str(),
             [&record](SqliteStatement& s) { s.Bind(1, record.finding_id()); });
  if (!newest.ok()) return newest.status();
  if (newest->empty()) {
    // The decision it lost to was purged in between: rare; judge again.
    return absl::AbortedError(
        absl::StrCat("remediation store ", path_, ": decision raced a purge"));
  }
  return std::move(newest->front());
}

absl::Status SqliteRecordStore::Put(const StoredRemediation& stored) {
  const v1::Remediation& record = stored.record;
  std::string blob;
  if (!record.SerializeToString(&blob)) {
    return absl::InternalError("remediation record does not serialize");
  }
  absl::MutexLock lock(&mu_);
  SqliteStatement put(
      db_,
      "INSERT INTO remediations (id, finding_id, node, decided_us, "
      "episode_us, awaiting, dry_run_order, answered, record) VALUES "
      "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
      "finding_id = excluded.finding_id, node = excluded.node, "
      "decided_us = excluded.decided_us, episode_us = excluded.episode_us, "
      "awaiting = excluded.awaiting, dry_run_order = excluded.dry_run_order, "
      "answered = excluded.answered, record = excluded.record "
      "WHERE remediations.answered = 0 OR excluded.answered = 1");
  if (!put.ok()) return Error("prepare put");
  put.Bind(1, record.id());
  put.Bind(2, record.finding_id());
  put.Bind(3, record.node());
  put.Bind(4, absl::ToUnixMicros(FromProto(record.decided_at())));
  put.Bind(5, stored.episode_us);
  put.Bind(6, int64_t{stored.awaiting});
  put.Bind(7, int64_t{stored.dry_run_order});
  put.Bind(8, int64_t{record.has_outcome()});
  put.BindBlob(9, blob);
  if (put.Step() != SQLITE_DONE) return Error("put");
  return absl::OkStatus();
}

template <typename BindFn>
absl::StatusOr<std::vector<StoredRemediation>> SqliteRecordStore::Select(
    const char* sql, BindFn bind) {
  SqliteStatement select(db_, sql);
  if (!select.ok()) return Error("prepare select");
  bind(select);
  std::vector<StoredRemediation> out;
  int rc;
  while ((rc = select.Step()) == SQLITE_ROW) {
    StoredRemediation& stored = out.emplace_back();
    if (!stored.record.ParseFromString(select.Text(0))) {
      return absl::DataLossError(absl::StrCat("remediation store ", path_,
                                              ": a record does not parse"));
    }
    stored.episode_us = select.Int(1);
    stored.awaiting = select.Int(2) != 0;
    stored.dry_run_order = select.Int(3) != 0;
  }
  if (rc != SQLITE_DONE) return Error("select");
  return out;
}

absl::StatusOr<std::optional<StoredRemediation>> SqliteRecordStore::Get(
    const std::string& id) {
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat("SELECT ", kColumns, " WHERE id = ?");
  absl::StatusOr<std::vector<StoredRemediation>> found =
      Select(sql.c_str(), [&id](SqliteStatement& s) { s.Bind(1, id); });
  if (!found.ok()) return found.status();
  if (found->empty()) return std::nullopt;
  return std::move(found->front());
}

absl::StatusOr<std::vector<StoredRemediation>> SqliteRecordStore::List(
    const std::string& finding_id, const std::string& node, size_t limit) {
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat(
      "SELECT ", kColumns,
      " WHERE (?1 = '' OR finding_id = ?1) AND (?2 = '' OR node = ?2) "
      "ORDER BY decided_us DESC, seq DESC LIMIT ?3");
  return Select(sql.c_str(), [&](SqliteStatement& s) {
    s.Bind(1, finding_id);
    s.Bind(2, node);
    s.Bind(3, static_cast<int64_t>(limit));
  });
}

absl::StatusOr<std::vector<StoredRemediation>> SqliteRecordStore::Awaiting() {
  absl::MutexLock lock(&mu_);
  const std::string sql =
      absl::StrCat("SELECT ", kColumns, " WHERE awaiting = 1 ORDER BY seq");
  return Select(sql.c_str(), [](SqliteStatement&) {});
}

absl::StatusOr<std::vector<StoredRemediation>>
SqliteRecordStore::LatestPerFinding() {
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat(
      "SELECT ", kColumns,
      " WHERE seq IN (SELECT MAX(seq) FROM remediations GROUP BY finding_id)"
      " ORDER BY seq");
  return Select(sql.c_str(), [](SqliteStatement&) {});
}

absl::StatusOr<int64_t> SqliteRecordStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  SqliteStatement purge(
      db_, "DELETE FROM remediations WHERE decided_us < ? AND awaiting = 0");
  if (!purge.ok()) return Error("prepare purge");
  purge.Bind(1, absl::ToUnixMicros(horizon));
  if (purge.Step() != SQLITE_DONE) return Error("purge");
  return sqlite3_changes(db_);
}

}  // namespace ghostpeer::aggregator::remediation
