#include "aggregator/alerts/delivery_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aggregator/sqlite_statement.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::alerts {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// Older builds kept these tables in the Engine's file (ImportFrom moves
// them here); the schema is unchanged, and created IF NOT EXISTS.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS delivery_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL,
  finding_id TEXT NOT NULL,
  episode INTEGER NOT NULL,
  event TEXT NOT NULL,
  finding BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'abandoned')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_us INTEGER NOT NULL,
  next_attempt_us INTEGER NOT NULL,
  finished_us INTEGER,
  last_error TEXT,
  UNIQUE (sink, finding_id, episode, event)
);
CREATE INDEX IF NOT EXISTS delivery_outbox_pending
  ON delivery_outbox (sink, state, next_attempt_us);
)sql";

int64_t Micros(absl::Time time) { return absl::ToUnixMicros(time); }

using Statement = SqliteStatement;

}  // namespace

int64_t EpisodeOf(const v1::Finding& finding) {
  return finding.has_first_seen() ? Micros(FromProto(finding.first_seen())) : 0;
}

std::string DeliveryStorePath(const std::string& engine_db_path) {
  if (engine_db_path == ":memory:") return engine_db_path;
  return engine_db_path + "-alerts";
}

std::string DeliveryId(const Delivery& delivery) {
  return absl::StrCat(delivery.finding_id, "-", delivery.episode, "-",
                      DeliveryEventName(delivery.event),
                      delivery.change.empty() ? "" : "-", delivery.change);
}

std::string RemediationChange(const v1::Finding& finding) {
  if (finding.remediation().empty()) return "";
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : finding.remediation()) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", hash);
}

absl::StatusOr<std::unique_ptr<DeliveryStore>> DeliveryStore::Open(
    const std::string& path) {
  // WAL: the dispatcher's reads never block its writes; busy_timeout
  // absorbs the writer lock of another process on the file (and of the
  // Engine's connection while ImportFrom drops the old tables).
  absl::StatusOr<sqlite3*> db =
      SqliteOpen(path, absl::StrCat("delivery store ", path), kBusyTimeoutMs);
  if (!db.ok()) return db.status();
  std::unique_ptr<DeliveryStore> store(new DeliveryStore(*db, path));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->Exec("PRAGMA synchronous=NORMAL"); !s.ok()) {
    return s;
  }
  if (absl::Status s = store->Exec(kSchema); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  return store;
}

DeliveryStore::~DeliveryStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::StatusOr<int64_t> DeliveryStore::ImportFrom(
    const std::string& legacy_path) {
  if (legacy_path == ":memory:" || legacy_path == path_) return 0;
  std::error_code error;
  if (!std::filesystem::exists(legacy_path, error)) {
    // Not being able to look is not "nothing there": importing nothing
    // would send delivered notifications again.
    if (error) {
      return absl::UnavailableError(absl::StrCat("delivery store ", path_,
                                                 ": look for ", legacy_path,
                                                 ": ", error.message()));
    }
    return 0;
  }
  absl::MutexLock lock(&mu_);
  {
    Statement attach(db_, "ATTACH DATABASE ? AS legacy");
    if (!attach.ok()) return Error("prepare attach");
    attach.Bind(1, legacy_path);
    if (attach.Step() != SQLITE_DONE) {
      return Error(absl::StrCat("attach ", legacy_path));
    }
  }
  absl::StatusOr<int64_t> imported = ImportAttached();
  if (absl::Status detached = Exec("DETACH DATABASE legacy");
      imported.ok() && !detached.ok()) {
    return detached;
  }
  return imported;
}

absl::StatusOr<int64_t> DeliveryStore::ImportAttached() {
  {
    Statement has_table(db_,
                        "SELECT 1 FROM legacy.sqlite_master WHERE type = "
                        "'table' AND name = 'delivery_outbox'");
    if (!has_table.ok()) return Error("prepare read legacy schema");
    const int rc = has_table.Step();
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return Error("read legacy schema");
  }
  // Two transactions, copy then drop: a transaction over two WAL files is
  // atomic in each, not across them, and this order leaves every row in at
  // least one file whatever stops us. Rows get new ids in their old order
  // (a finding's OPENED stays before its RESOLVED); one whose (sink,
  // finding, episode, event) is already here is the same notification and
  // is not copied.
  if (absl::Status s = Exec(
          "INSERT OR IGNORE INTO main.delivery_outbox (sink, finding_id, "
          "episode, event, finding, state, attempts, created_us, "
          "next_attempt_us, finished_us, last_error) SELECT sink, finding_id, "
          "episode, event, finding, state, attempts, created_us, "
          "next_attempt_us, finished_us, last_error FROM "
          "legacy.delivery_outbox ORDER BY id");
      !s.ok()) {
    return s;
  }
  const int64_t copied = sqlite3_changes(db_);
  if (absl::Status s = Exec("DROP TABLE legacy.delivery_outbox"); !s.ok()) {
    return s;
  }
  return copied;
}

absl::Status DeliveryStore::Error(absl::string_view what) {
  return SqliteError(db_, absl::StrCat("delivery store ", path_), what);
}

absl::Status DeliveryStore::Exec(const char* sql) {
  return SqliteExec(db_, absl::StrCat("delivery store ", path_), sql);
}

absl::StatusOr<bool> DeliveryStore::Enqueue(const std::string& sink,
                                            DeliveryEvent event,
                                            const v1::Finding& finding,
                                            absl::Time now,
                                            const std::string& change) {
  std::string blob;
  if (!finding.SerializeToString(&blob)) {
    return absl::InternalError(
        absl::StrCat("finding ", finding.id(), ": cannot serialize"));
  }
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "INSERT OR IGNORE INTO delivery_outbox (sink, finding_id, "
                 "episode, event, finding, state, created_us, "
                 "next_attempt_us) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)");
  if (!stmt.ok()) return Error("prepare enqueue");
  stmt.Bind(1, sink);
  stmt.Bind(2, finding.id());
  stmt.Bind(3, EpisodeOf(finding));
  // The event column holds "EVENT" or "EVENT:change": the UNIQUE key then
  // admits one row per change, and rows of older builds read as before.
  stmt.Bind(4, change.empty()
                   ? std::string(DeliveryEventName(event))
                   : absl::StrCat(DeliveryEventName(event), ":", change));
  stmt.BindBlob(5, blob);
  stmt.Bind(6, Micros(now));
  stmt.Bind(7, Micros(now));
  if (stmt.Step() != SQLITE_DONE) return Error("enqueue");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<bool> DeliveryStore::Known(const std::string& sink,
                                          const std::string& finding_id,
                                          int64_t episode,
                                          DeliveryEvent event) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "SELECT 1 FROM delivery_outbox WHERE sink = ? AND "
                 "finding_id = ? AND episode = ? AND event = ?");
  if (!stmt.ok()) return Error("prepare known");
  stmt.Bind(1, sink);
  stmt.Bind(2, finding_id);
  stmt.Bind(3, episode);
  stmt.Bind(4, std::string(DeliveryEventName(event)));
  const int rc = stmt.Step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error("known");
}

absl::StatusOr<std::vector<Delivery>> DeliveryStore::Due(
    const std::string& sink, absl::Time now, int limit) {
  absl::MutexLock lock(&mu_);
  Statement stmt(
      db_,
      "SELECT d.id, d.finding_id, d.episode, d.event, d.finding, d.attempts, "
      "d.created_us, d.next_attempt_us FROM delivery_outbox d "
      "WHERE d.sink = ?1 AND d.state = 'pending' AND d.next_attempt_us <= ?2 "
      "AND NOT EXISTS (SELECT 1 FROM delivery_outbox o WHERE o.sink = ?1 AND "
      "o.finding_id = d.finding_id AND o.state = 'pending' AND o.id < d.id) "
      "ORDER BY d.id LIMIT ?3");
  if (!stmt.ok()) return Error("prepare due");
  stmt.Bind(1, sink);
  stmt.Bind(2, Micros(now));
  stmt.Bind(3, static_cast<int64_t>(limit));
  std::vector<Delivery> due;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    Delivery d;
    d.id = stmt.Int(0);
    d.sink = sink;
    d.finding_id = stmt.Text(1);
    d.episode = stmt.Int(2);
    const std::string event_key = stmt.Text(3);
    const size_t colon = event_key.find(':');
    absl::StatusOr<DeliveryEvent> event =
        ParseDeliveryEvent(absl::string_view(event_key).substr(0, colon));
    if (colon != std::string::npos) d.change = event_key.substr(colon + 1);
    if (!event.ok() || !d.finding.ParseFromString(stmt.Text(4))) {
      return absl::DataLossError(absl::StrCat(
          "delivery store ", path_, ": row ", d.id, " is unreadable"));
    }
    d.event = *event;
    d.attempts = static_cast<int>(stmt.Int(5));
    d.created = absl::FromUnixMicros(stmt.Int(6));
    d.next_attempt = absl::FromUnixMicros(stmt.Int(7));
    due.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return Error("due");
  return due;
}

absl::StatusOr<std::optional<absl::Time>> DeliveryStore::NextDue(
    const std::string& sink) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "SELECT MIN(d.next_attempt_us) FROM delivery_outbox d "
                 "WHERE d.sink = ?1 AND d.state = 'pending' AND NOT EXISTS "
                 "(SELECT 1 FROM delivery_outbox o WHERE o.sink = ?1 AND "
                 "o.finding_id = d.finding_id AND o.state = 'pending' AND "
                 "o.id < d.id)");
  if (!stmt.ok()) return Error("prepare next due");
  stmt.Bind(1, sink);
  if (stmt.Step() != SQLITE_ROW) return Error("next due");
  if (stmt.IsNull(0)) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(stmt.Int(0)));
}

absl::Status DeliveryStore::Finish(int64_t id, const char* state,
                                   absl::Time now, const std::string& error) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "UPDATE delivery_outbox SET state = ?, finished_us = ?, "
                 "last_error = ? WHERE id = ? AND state = 'pending'");
  if (!stmt.ok()) return Error("prepare finish");
  stmt.Bind(1, std::string(state));
  stmt.Bind(2, Micros(now));
  stmt.Bind(3, error);
  stmt.Bind(4, id);
  if (stmt.Step() != SQLITE_DONE) return Error("finish");
  return absl::OkStatus();
}

absl::Status DeliveryStore::MarkDelivered(int64_t id, absl::Time now) {
  return Finish(id, "delivered", now, "");
}

absl::Status DeliveryStore::MarkAbandoned(int64_t id, absl::Time now,
                                          const std::string& error) {
  return Finish(id, "abandoned", now, error);
}

absl::Status DeliveryStore::MarkFailed(int64_t id, int attempts,
                                       absl::Time next_attempt,
                                       const std::string& error) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "UPDATE delivery_outbox SET attempts = ?, next_attempt_us = "
                 "?, last_error = ? WHERE id = ? AND state = 'pending'");
  if (!stmt.ok()) return Error("prepare mark failed");
  stmt.Bind(1, static_cast<int64_t>(attempts));
  stmt.Bind(2, Micros(next_attempt));
  stmt.Bind(3, error);
  stmt.Bind(4, id);
  if (stmt.Step() != SQLITE_DONE) return Error("mark failed");
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> DeliveryStore::PendingBySink() {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "SELECT sink, COUNT(*) FROM delivery_outbox WHERE state = "
                 "'pending' GROUP BY sink");
  if (!stmt.ok()) return Error("prepare pending");
  std::map<std::string, int64_t> pending;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) pending[stmt.Text(0)] = stmt.Int(1);
  if (rc != SQLITE_DONE) return Error("pending");
  return pending;
}

absl::StatusOr<int64_t> DeliveryStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "DELETE FROM delivery_outbox WHERE state != 'pending' AND "
                 "finished_us < ?");
  if (!stmt.ok()) return Error("prepare purge");
  stmt.Bind(1, Micros(horizon));
  if (stmt.Step() != SQLITE_DONE) return Error("purge");
  return static_cast<int64_t>(sqlite3_changes(db_));
}

absl::Status DeliveryStore::Ping() {
  absl::MutexLock lock(&mu_);
  return Exec("SELECT 1");
}

}  // namespace ghostpeer::aggregator::alerts
