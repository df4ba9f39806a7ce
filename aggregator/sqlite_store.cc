#include "aggregator/sqlite_store.h"

#include <sqlite3.h>

#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

// Schema migrations: kMigrations[v] takes a database from version v to v+1.
// To change the schema, append a step and bump kSchemaVersion; never edit a
// step that has shipped.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE intervals (
      id INTEGER PRIMARY KEY,
      address TEXT NOT NULL,
      owner BLOB NOT NULL,      -- serialized v1.AddressOwner, no since/until
      reporter TEXT NOT NULL,   -- node whose agent reported it
      source INTEGER NOT NULL,  -- v1.AddressEventSource
      since_us INTEGER NOT NULL,
      until_us INTEGER          -- NULL while the owner holds it
    );
    CREATE INDEX intervals_by_until ON intervals (until_us)
      WHERE until_us IS NOT NULL;
    CREATE TABLE agent_seqs (
      node TEXT NOT NULL,
      agent_instance TEXT NOT NULL,
      seq INTEGER NOT NULL,     -- the uint64 seq's bits (see CommitAddressBatch)
      updated_us INTEGER NOT NULL,
      PRIMARY KEY (node, agent_instance)
    ) WITHOUT ROWID;
    CREATE TABLE findings (
      id TEXT PRIMARY KEY,
      node TEXT NOT NULL,
      status INTEGER NOT NULL,  -- v1.FindingStatus
      updated_us INTEGER NOT NULL,
      finding BLOB NOT NULL,    -- serialized v1.Finding
      memory BLOB NOT NULL      -- the detector's memory of the connection
    ) WITHOUT ROWID;
    )sql",
    // 1 -> 2: address scope (model.proto AddressScope). A node-local address
    // is keyed by (node, address); scope_node is that node, '' for
    // cluster-wide — which every row written before scopes existed is. The
    // owner blob stays the truth (it carries the scope); the column makes
    // the key visible to SQL, and the version bump keeps an older build,
    // which would read every scoped row as cluster-wide, off this file.
    R"sql(
    ALTER TABLE intervals ADD COLUMN scope_node TEXT NOT NULL DEFAULT '';
    CREATE INDEX intervals_by_address ON intervals (address, scope_node);
    )sql",
    // 2 -> 3: why an interval ended (v1.CloseReason; 0 while open, and for
    // intervals closed before this step, which did not record it).
    R"sql(
    ALTER TABLE intervals ADD COLUMN close_reason INTEGER NOT NULL DEFAULT 0;
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

constexpr int kBusyTimeoutMs = 5000;

// The node half of an interval's (node, address) key; '' for cluster-wide.
std::string ScopeNode(const v1::AddressOwner& owner) {
  return IsClusterWide(owner) ? std::string() : owner.node();
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

absl::StatusCode CodeFor(int code) {
  switch (code & 0xff) {  // primary result code
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

// Binds, steps and resets one cached statement; reset on every exit so the
// next user finds it clean.
class SqliteStore::Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  int Step() { return sqlite3_step(stmt_); }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  std::string Text(int col) const {
    const void* data = sqlite3_column_blob(stmt_, col);
    const int size = sqlite3_column_bytes(stmt_, col);
    return data == nullptr ? std::string()
                           : std::string(static_cast<const char*>(data), size);
  }

 private:
  sqlite3_stmt* const stmt_;
};

SqliteStore::SqliteStore(std::string path, sqlite3* db)
    : path_(std::move(path)), db_(db) {}

SqliteStore::~SqliteStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const std::string& path, absl::Time now) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::Status(CodeFor(rc),
                        absl::StrCat("open database ", path, ": ", message));
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, db));
  absl::MutexLock lock(&store->mu_);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // journal_mode answers with a row; a corrupt or foreign file fails here
  // first, with SQLITE_NOTADB.
  GHOSTPEER_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  GHOSTPEER_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  GHOSTPEER_RETURN_IF_ERROR(store->Exec("PRAGMA foreign_keys=ON"));
  GHOSTPEER_RETURN_IF_ERROR(store->Migrate(now));
  return store;
}

absl::Status SqliteStore::Error(int code, const std::string& context) {
  return absl::Status(
      CodeFor(code),
      absl::StrCat("sqlite ", path_, ": ", context, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqliteStore::Exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    std::string statement(sql);
    if (statement.size() > 60) statement = statement.substr(0, 60) + "...";
    return absl::Status(CodeFor(rc), absl::StrCat("sqlite ", path_, ": ",
                                                  statement, ": ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> SqliteStore::Prepared(const char* sql) {
  for (const auto& [text, stmt] : statements_) {
    if (text == sql) return stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, absl::StrCat("prepare ", sql));
  statements_.emplace_back(sql, stmt);
  return stmt;
}

template <typename Body>
absl::Status SqliteStore::InTransaction(const char* what, Body body) {
  // IMMEDIATE takes the write lock up front, so a busy database fails here
  // (after busy_timeout) rather than half-way through the body.
  GHOSTPEER_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status = body();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    // Rolling back an already-finished transaction fails harmlessly.
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return absl::Status(status.code(),
                        absl::StrCat(what, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Migrate(absl::Time now) {
  GHOSTPEER_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT "
           "NULL)"));
  int version = 0;
  {
    GHOSTPEER_ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                               Prepared("SELECT MAX(version) FROM "
                                        "schema_version"));
    Statement select(raw);
    const int rc = select.Step();
    if (rc != SQLITE_ROW) return Error(rc, "read schema version");
    version = select.IsNull(0) ? 0 : static_cast<int>(select.Int(0));
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("database ", path_, " has schema version ", version,
                     ", newer than this ghostpeer-aggregator understands (",
                     kSchemaVersion, "); use a newer build or another --db"));
  }
  for (int step = version; step < kSchemaVersion; ++step) {
    GHOSTPEER_RETURN_IF_ERROR(InTransaction(
        "migrate schema", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          GHOSTPEER_RETURN_IF_ERROR(Exec(kMigrations[step]));
          GHOSTPEER_RETURN_IF_ERROR(
              Exec(absl::StrCat("DELETE FROM schema_version; INSERT INTO "
                                "schema_version VALUES (",
                                step + 1, ")")
                       .c_str()));
          if (step == 0) {
            GHOSTPEER_RETURN_IF_ERROR(
                Exec(absl::StrCat("INSERT INTO meta VALUES ('created_us', '",
                                  Micros(now), "')")
                         .c_str()));
          }
          return absl::OkStatus();
        }));
  }
  GHOSTPEER_ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      Prepared("SELECT value FROM meta WHERE key = 'created_us'"));
  Statement select(raw);
  int64_t created_us = 0;
  if (select.Step() != SQLITE_ROW ||
      !absl::SimpleAtoi(select.Text(0), &created_us)) {
    return absl::DataLossError(
        absl::StrCat("database ", path_, ": meta.created_us missing"));
  }
  created_at_ = FromMicros(created_us);
  return absl::OkStatus();
}

absl::StatusOr<StoredState> SqliteStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.created_at = created_at_;
  {
    GHOSTPEER_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        Prepared("SELECT id, owner, reporter, source, since_us, until_us, "
                 "close_reason FROM intervals"));
    Statement select(raw);
    int rc;
    while ((rc = select.Step()) == SQLITE_ROW) {
      OwnershipInterval interval;
      interval.id = select.Int(0);
      if (!interval.owner.ParseFromString(select.Text(1))) {
        return absl::DataLossError(absl::StrCat(
            "database ", path_, ": interval ", interval.id, ": bad owner"));
      }
      interval.reporter = select.Text(2);
      interval.source = static_cast<v1::AddressEventSource>(select.Int(3));
      interval.since = FromMicros(select.Int(4));
      interval.until =
          select.IsNull(5) ? absl::InfiniteFuture() : FromMicros(select.Int(5));
      // A reason this build does not know reads as unspecified.
      const int64_t reason = select.Int(6);
      if (!interval.open() && reason >= 0 && reason <= INT32_MAX &&
          v1::CloseReason_IsValid(static_cast<int>(reason))) {
        interval.close_reason = static_cast<v1::CloseReason>(reason);
      }
      state.intervals.push_back(std::move(interval));
    }
    if (rc != SQLITE_DONE) return Error(rc, "read intervals");
  }
  {
    GHOSTPEER_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        Prepared("SELECT node, agent_instance, seq FROM agent_seqs"));
    Statement select(raw);
    int rc;
    while ((rc = select.Step()) == SQLITE_ROW) {
      state.seqs.push_back({select.Text(0), select.Text(1),
                            static_cast<uint64_t>(select.Int(2))});
    }
    if (rc != SQLITE_DONE) return Error(rc, "read agent seqs");
  }
  {
    GHOSTPEER_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        Prepared("SELECT id, finding, memory FROM findings"));
    Statement select(raw);
    int rc;
    while ((rc = select.Step()) == SQLITE_ROW) {
      StoredFinding stored;
      if (!stored.finding.ParseFromString(select.Text(1))) {
        return absl::DataLossError(absl::StrCat(
            "database ", path_, ": finding ", select.Text(0), ": bad record"));
      }
      stored.memory = select.Text(2);
      state.findings.push_back(std::move(stored));
    }
    if (rc != SQLITE_DONE) return Error(rc, "read findings");
  }
  return state;
}

absl::Status SqliteStore::WriteOp(const HistoryOp& op) {
  const OwnershipInterval& interval = op.after;
  switch (op.kind) {
    case HistoryOp::Kind::kInsert: {
      GHOSTPEER_ASSIGN_OR_RETURN(
          sqlite3_stmt * raw,
          Prepared("INSERT INTO intervals (id, address, owner, reporter, "
                   "source, since_us, until_us, scope_node, close_reason) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
      Statement insert(raw);
      insert.Bind(1, interval.id);
      insert.Bind(2, interval.owner.address());
      insert.BindBlob(3, interval.owner.SerializeAsString());
      insert.Bind(4, interval.reporter);
      insert.Bind(5, static_cast<int64_t>(interval.source));
      insert.Bind(6, Micros(interval.since));
      if (interval.open()) {
        insert.BindNull(7);
      } else {
        insert.Bind(7, Micros(interval.until));
      }
      insert.Bind(8, ScopeNode(interval.owner));
      insert.Bind(9, static_cast<int64_t>(interval.close_reason));
      const int rc = insert.Step();
      if (rc != SQLITE_DONE) return Error(rc, "insert interval");
      return absl::OkStatus();
    }
    case HistoryOp::Kind::kClose: {
      GHOSTPEER_ASSIGN_OR_RETURN(
          sqlite3_stmt * raw,
          Prepared("UPDATE intervals SET until_us = ?, close_reason = ? "
                   "WHERE id = ?"));
      Statement update(raw);
      update.Bind(1, Micros(interval.until));
      update.Bind(2, static_cast<int64_t>(interval.close_reason));
      update.Bind(3, interval.id);
      const int rc = update.Step();
      if (rc != SQLITE_DONE) return Error(rc, "close interval");
      return absl::OkStatus();
    }
    case HistoryOp::Kind::kUpdateOwner: {
      GHOSTPEER_ASSIGN_OR_RETURN(
          sqlite3_stmt * raw,
          Prepared("UPDATE intervals SET owner = ?, scope_node = ? WHERE "
                   "id = ?"));
      Statement update(raw);
      update.BindBlob(1, interval.owner.SerializeAsString());
      update.Bind(2, ScopeNode(interval.owner));  // a merge may scope it
      update.Bind(3, interval.id);
      const int rc = update.Step();
      if (rc != SQLITE_DONE) return Error(rc, "update interval owner");
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown history op");
}

absl::Status SqliteStore::CommitAddressBatch(const std::string& node,
                                             const std::string& agent_instance,
                                             uint64_t seq,
                                             const HistoryChanges& changes,
                                             absl::Time now) {
  absl::MutexLock lock(&mu_);
  return InTransaction(
      "store address events", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        for (const HistoryOp& op : changes) {
          GHOSTPEER_RETURN_IF_ERROR(WriteOp(op));
        }
        // Seqs are uint64 and SQLite integers int64: the column holds the
        // seq's bit pattern (seqs from 2^63 up read as negative), which
        // casts back exactly. Only comparisons must mind it: the larger of
        // two seqs is the larger signed value when their signs agree, and
        // the negative one when they differ. (SQL's MAX alone kept 10 over
        // 2^63+5, and the ack went back after a restart.)
        GHOSTPEER_ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepared(R"sql(
              INSERT INTO agent_seqs (node, agent_instance, seq, updated_us)
              VALUES (?, ?, ?, ?)
              ON CONFLICT (node, agent_instance) DO UPDATE SET
                seq = CASE
                  WHEN (seq < 0) = (excluded.seq < 0)
                    THEN MAX(seq, excluded.seq)
                  WHEN seq < 0 THEN seq
                  ELSE excluded.seq
                END,
                updated_us = excluded.updated_us)sql"));
        Statement upsert(raw);
        upsert.Bind(1, node);
        upsert.Bind(2, agent_instance);
        upsert.Bind(3, static_cast<int64_t>(seq));
        upsert.Bind(4, Micros(now));
        const int rc = upsert.Step();
        if (rc != SQLITE_DONE) return Error(rc, "store agent seq");
        return absl::OkStatus();
      });
}

absl::Status SqliteStore::CommitHistoryChanges(const HistoryChanges& changes) {
  if (changes.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return InTransaction("store history changes",
                       [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                         for (const HistoryOp& op : changes) {
                           GHOSTPEER_RETURN_IF_ERROR(WriteOp(op));
                         }
                         return absl::OkStatus();
                       });
}

absl::Status SqliteStore::SaveFindings(
    const std::vector<StoredFinding>& findings, absl::Time now) {
  if (findings.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return InTransaction("store findings", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                             mu_) {
    GHOSTPEER_ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        Prepared("INSERT OR REPLACE INTO findings (id, node, status, "
                 "updated_us, finding, memory) VALUES (?, ?, ?, ?, ?, ?)"));
    for (const StoredFinding& stored : findings) {
      Statement upsert(raw);
      upsert.Bind(1, stored.finding.id());
      upsert.Bind(2, stored.finding.socket().node());
      upsert.Bind(3, static_cast<int64_t>(stored.finding.status()));
      upsert.Bind(4, Micros(now));
      upsert.BindBlob(5, stored.finding.SerializeAsString());
      upsert.BindBlob(6, stored.memory);
      const int rc = upsert.Step();
      if (rc != SQLITE_DONE) {
        return Error(rc, absl::StrCat("store finding ", stored.finding.id()));
      }
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  const int64_t horizon_us = Micros(horizon);
  return InTransaction("purge", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const char* const kStatements[] = {
        "DELETE FROM intervals WHERE until_us IS NOT NULL AND until_us < ?",
        "DELETE FROM findings WHERE status = 2 AND updated_us < ?",
        "DELETE FROM agent_seqs WHERE updated_us < ?",
    };
    static_assert(v1::RESOLVED == 2);
    for (const char* sql : kStatements) {
      GHOSTPEER_ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepared(sql));
      Statement purge(raw);
      purge.Bind(1, horizon_us);
      const int rc = purge.Step();
      if (rc != SQLITE_DONE) return Error(rc, sql);
    }
    return absl::OkStatus();
  });
}

}  // namespace ghostpeer::aggregator
