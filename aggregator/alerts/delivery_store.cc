#include "aggregator/alerts/delivery_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
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
// them here); created IF NOT EXISTS. The claim columns (issue 12) came
// later: AddClaimColumns adds them to older files.
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
  claimed_by TEXT,
  claimed_until_us INTEGER,
  UNIQUE (sink, finding_id, episode, event)
);
CREATE INDEX IF NOT EXISTS delivery_outbox_pending
  ON delivery_outbox (sink, state, next_attempt_us);
)sql";

int64_t Micros(absl::Time time) { return absl::ToUnixMicros(time); }

using Statement = SqliteStatement;

// Due rows of ?1 at ?2, oldest first, each behind no older pending row of
// its finding; with the claim filter, only those no other replica (?3)
// holds a live lease on.
constexpr const char* kDueSql =
    "SELECT d.id, d.finding_id, d.episode, d.event, d.finding, d.attempts, "
    "d.created_us, d.next_attempt_us FROM delivery_outbox d "
    "WHERE d.sink = ?1 AND d.state = 'pending' AND d.next_attempt_us <= ?2 "
    "AND NOT EXISTS (SELECT 1 FROM delivery_outbox o WHERE o.sink = ?1 AND "
    "o.finding_id = d.finding_id AND o.state = 'pending' AND o.id < d.id) "
    "AND (?3 IS NULL OR d.claimed_until_us IS NULL OR "
    "d.claimed_until_us <= ?2 OR d.claimed_by = ?3) "
    "ORDER BY d.id LIMIT ?4";

}  // namespace

namespace {

std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    return "unknown";
  }
  return host;
}

}  // namespace

std::string DefaultReplicaId() {
  // The random part: replicas in containers on the node's network share
  // its hostname, and their pid namespaces may give both the same pid.
  std::random_device random;
  return absl::StrCat(HostName(), ":", getpid(), ":",
                      absl::Hex(random(), absl::kZeroPad8));
}

std::string DeliveryEventKey(DeliveryEvent event, const std::string& change) {
  return change.empty() ? std::string(DeliveryEventName(event))
                        : absl::StrCat(DeliveryEventName(event), ":", change);
}

bool ParseDeliveryEventKey(absl::string_view key, DeliveryEvent* event,
                           std::string* change) {
  const size_t colon = key.find(':');
  absl::StatusOr<DeliveryEvent> parsed =
      ParseDeliveryEvent(key.substr(0, colon));
  if (!parsed.ok()) return false;
  *event = *parsed;
  *change = colon == absl::string_view::npos
                ? std::string()
                : std::string(key.substr(colon + 1));
  return true;
}

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

absl::StatusOr<std::unique_ptr<SqliteDeliveryStore>> SqliteDeliveryStore::Open(
    const std::string& path, const std::string& replica_id) {
  // WAL: the dispatcher's reads never block its writes; busy_timeout
  // absorbs the writer lock of another process on the file (and of the
  // Engine's connection while ImportFrom drops the old tables).
  absl::StatusOr<sqlite3*> db =
      SqliteOpen(path, absl::StrCat("delivery store ", path), kBusyTimeoutMs);
  if (!db.ok()) return db.status();
  // The host's name by default: stable across restarts, so a restarted
  // aggregator resends what it held at once, as before claims existed.
  std::unique_ptr<SqliteDeliveryStore> store(new SqliteDeliveryStore(
      *db, path, replica_id.empty() ? HostName() : replica_id));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->Exec("PRAGMA synchronous=NORMAL"); !s.ok()) {
    return s;
  }
  if (absl::Status s = store->Exec(kSchema); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  if (absl::Status s = store->AddClaimColumns(); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  return store;
}

absl::Status SqliteDeliveryStore::AddClaimColumns() {
  Statement has_column(db_,
                       "SELECT 1 FROM pragma_table_info('delivery_outbox') "
                       "WHERE name = 'claimed_by'");
  if (!has_column.ok()) return Error("prepare read schema");
  const int rc = has_column.Step();
  if (rc == SQLITE_ROW) return absl::OkStatus();
  if (rc != SQLITE_DONE) return Error("read schema");
  // One transaction: a file never has one column without the other.
  return Exec(
      "BEGIN IMMEDIATE; "
      "ALTER TABLE delivery_outbox ADD COLUMN claimed_by TEXT; "
      "ALTER TABLE delivery_outbox ADD COLUMN claimed_until_us INTEGER; "
      "COMMIT");
}

SqliteDeliveryStore::~SqliteDeliveryStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::StatusOr<int64_t> SqliteDeliveryStore::ImportFrom(
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

absl::StatusOr<int64_t> SqliteDeliveryStore::ImportAttached() {
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

absl::Status SqliteDeliveryStore::Error(absl::string_view what) {
  return SqliteError(db_, absl::StrCat("delivery store ", path_), what);
}

absl::Status SqliteDeliveryStore::Exec(const char* sql) {
  return SqliteExec(db_, absl::StrCat("delivery store ", path_), sql);
}

absl::StatusOr<bool> SqliteDeliveryStore::Enqueue(const std::string& sink,
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
  stmt.Bind(4, DeliveryEventKey(event, change));
  stmt.BindBlob(5, blob);
  stmt.Bind(6, Micros(now));
  stmt.Bind(7, Micros(now));
  if (stmt.Step() != SQLITE_DONE) return Error("enqueue");
  return sqlite3_changes(db_) > 0;
}

absl::StatusOr<bool> SqliteDeliveryStore::Known(const std::string& sink,
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

absl::StatusOr<std::vector<Delivery>> SqliteDeliveryStore::DueLocked(
    const std::string& sink, absl::Time now, int limit, bool claimable) {
  Statement stmt(db_, kDueSql);
  if (!stmt.ok()) return Error("prepare due");
  stmt.Bind(1, sink);
  stmt.Bind(2, Micros(now));
  if (claimable) stmt.Bind(3, replica_id_);  // unbound: NULL, no filter
  stmt.Bind(4, static_cast<int64_t>(limit));
  std::vector<Delivery> due;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    Delivery d;
    d.id = stmt.Int(0);
    d.sink = sink;
    d.finding_id = stmt.Text(1);
    d.episode = stmt.Int(2);
    if (!ParseDeliveryEventKey(stmt.Text(3), &d.event, &d.change) ||
        !d.finding.ParseFromString(stmt.Text(4))) {
      return absl::DataLossError(absl::StrCat(
          "delivery store ", path_, ": row ", d.id, " is unreadable"));
    }
    d.attempts = static_cast<int>(stmt.Int(5));
    d.created = absl::FromUnixMicros(stmt.Int(6));
    d.next_attempt = absl::FromUnixMicros(stmt.Int(7));
    due.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return Error("due");
  return due;
}

absl::StatusOr<std::vector<Delivery>> SqliteDeliveryStore::Due(
    const std::string& sink, absl::Time now, int limit) {
  absl::MutexLock lock(&mu_);
  return DueLocked(sink, now, limit, /*claimable=*/false);
}

absl::StatusOr<std::vector<Delivery>> SqliteDeliveryStore::Claim(
    const std::string& sink, absl::Time now, int limit, absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  // BEGIN IMMEDIATE takes the file's write lock before reading: another
  // process claiming from the same file waits (busy_timeout) and then
  // sees these claims.
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::StatusOr<std::vector<Delivery>> due =
      DueLocked(sink, now, limit, /*claimable=*/true);
  const absl::Time until = now + lease;
  for (size_t i = 0; due.ok() && i < due->size(); ++i) {
    Statement claim(db_,
                    "UPDATE delivery_outbox SET claimed_by = ?, "
                    "claimed_until_us = ? WHERE id = ?");
    if (!claim.ok()) {
      due = Error("prepare claim");
      break;
    }
    claim.Bind(1, replica_id_);
    claim.Bind(2, Micros(until));
    claim.Bind(3, (*due)[i].id);
    if (claim.Step() != SQLITE_DONE) {
      due = Error("claim");
      break;
    }
    (*due)[i].claimed_until = until;
  }
  if (absl::Status s = Exec(due.ok() ? "COMMIT" : "ROLLBACK");
      !s.ok() && due.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return due;
}

absl::StatusOr<std::optional<absl::Time>> SqliteDeliveryStore::NextDue(
    const std::string& sink) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "SELECT MIN(CASE WHEN d.claimed_by != ?2 AND "
                 "d.claimed_until_us > d.next_attempt_us THEN "
                 "d.claimed_until_us ELSE d.next_attempt_us END) FROM "
                 "delivery_outbox d WHERE d.sink = ?1 AND d.state = "
                 "'pending' AND NOT EXISTS (SELECT 1 FROM delivery_outbox o "
                 "WHERE o.sink = ?1 AND o.finding_id = d.finding_id AND "
                 "o.state = 'pending' AND o.id < d.id)");
  if (!stmt.ok()) return Error("prepare next due");
  stmt.Bind(1, sink);
  stmt.Bind(2, replica_id_);
  if (stmt.Step() != SQLITE_ROW) return Error("next due");
  if (stmt.IsNull(0)) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMicros(stmt.Int(0)));
}

absl::Status SqliteDeliveryStore::ClaimLost(int64_t id, const char* what) {
  Statement stmt(db_,
                 "SELECT claimed_by FROM delivery_outbox WHERE id = ? AND "
                 "state = 'pending' AND claimed_by IS NOT NULL AND "
                 "claimed_by != ?");
  if (!stmt.ok()) return Error("prepare read claim");
  stmt.Bind(1, id);
  stmt.Bind(2, replica_id_);
  const int rc = stmt.Step();
  if (rc == SQLITE_DONE) return absl::OkStatus();
  if (rc != SQLITE_ROW) return Error("read claim");
  return absl::AbortedError(absl::StrCat("delivery store ", path_, ": ", what,
                                         " row ", id, ": claimed since by ",
                                         stmt.Text(0)));
}

absl::Status SqliteDeliveryStore::Finish(int64_t id, const char* state,
                                         absl::Time now,
                                         const std::string& error,
                                         bool claim_must_be_ours) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "UPDATE delivery_outbox SET state = ?1, finished_us = ?2, "
                 "last_error = ?3 WHERE id = ?4 AND state = 'pending' AND "
                 "(?5 IS NULL OR claimed_by IS NULL OR claimed_by = ?5)");
  if (!stmt.ok()) return Error("prepare finish");
  stmt.Bind(1, std::string(state));
  stmt.Bind(2, Micros(now));
  stmt.Bind(3, error);
  stmt.Bind(4, id);
  if (claim_must_be_ours) stmt.Bind(5, replica_id_);
  if (stmt.Step() != SQLITE_DONE) return Error("finish");
  if (sqlite3_changes(db_) > 0) return absl::OkStatus();
  return ClaimLost(id, state);
}

absl::Status SqliteDeliveryStore::MarkDelivered(int64_t id, absl::Time now) {
  return Finish(id, "delivered", now, "", /*claim_must_be_ours=*/false);
}

absl::Status SqliteDeliveryStore::MarkAbandoned(int64_t id, absl::Time now,
                                                const std::string& error) {
  return Finish(id, "abandoned", now, error, /*claim_must_be_ours=*/true);
}

absl::Status SqliteDeliveryStore::MarkFailed(int64_t id, int attempts,
                                             absl::Time next_attempt,
                                             const std::string& error) {
  absl::MutexLock lock(&mu_);
  // The claim ends with the attempt: whoever is free when it is due next
  // takes it.
  Statement stmt(db_,
                 "UPDATE delivery_outbox SET attempts = ?1, next_attempt_us = "
                 "?2, last_error = ?3, claimed_by = NULL, claimed_until_us = "
                 "NULL WHERE id = ?4 AND state = 'pending' AND (claimed_by IS "
                 "NULL OR claimed_by = ?5)");
  if (!stmt.ok()) return Error("prepare mark failed");
  stmt.Bind(1, static_cast<int64_t>(attempts));
  stmt.Bind(2, Micros(next_attempt));
  stmt.Bind(3, error);
  stmt.Bind(4, id);
  stmt.Bind(5, replica_id_);
  if (stmt.Step() != SQLITE_DONE) return Error("mark failed");
  if (sqlite3_changes(db_) > 0) return absl::OkStatus();
  return ClaimLost(id, "mark failed");
}

absl::StatusOr<std::map<std::string, int64_t>>
SqliteDeliveryStore::PendingBySink() {
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

absl::StatusOr<int64_t> SqliteDeliveryStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  Statement stmt(db_,
                 "DELETE FROM delivery_outbox WHERE state != 'pending' AND "
                 "finished_us < ?");
  if (!stmt.ok()) return Error("prepare purge");
  stmt.Bind(1, Micros(horizon));
  if (stmt.Step() != SQLITE_DONE) return Error("purge");
  return static_cast<int64_t>(sqlite3_changes(db_));
}

absl::Status SqliteDeliveryStore::Ping() {
  absl::MutexLock lock(&mu_);
  return Exec("SELECT 1");
}

}  // namespace ghostpeer::aggregator::alerts
