// Small SQLite helpers shared by the aggregator's side stores (alert
// deliveries, remediation records): a prepared statement finalized on every
// path, and SQLite errors as absl::Status.
#ifndef GHOSTPEER_AGGREGATOR_SQLITE_STATEMENT_H_
#define GHOSTPEER_AGGREGATOR_SQLITE_STATEMENT_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ghostpeer::aggregator {

// Not thread-safe; use under the connection's lock.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  int Step() { return sqlite3_step(stmt_); }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const void* data = sqlite3_column_blob(stmt_, col);
    const int size = sqlite3_column_bytes(stmt_, col);
    return data ? std::string(static_cast<const char*>(data), size)
                : std::string();
  }
  bool IsNull(int col) {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// The connection's latest error as a status whose code says what a caller
// can do: Unavailable (busy, locked: try again), ResourceExhausted (disk
// full), DataLoss (corrupt), Internal otherwise. `context` leads the
// message ("delivery store /var/lib/ghostpeer.db-alerts").
inline absl::Status SqliteError(sqlite3* db, absl::string_view context,
                                absl::string_view what) {
  const int code = sqlite3_errcode(db);
  std::string message =
      absl::StrCat(context, ": ", what, ": ", sqlite3_errmsg(db));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    return absl::DataLossError(message);
  }
  return absl::InternalError(message);
}

// Runs `sql` (no results); Unavailable with `context` and SQLite's message.
inline absl::Status SqliteExec(sqlite3* db, absl::string_view context,
                               const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::UnavailableError(absl::StrCat(context, ": ", message));
  }
  return absl::OkStatus();
}

// Opens or creates the database at `path` (":memory:" for one that keeps
// nothing) for use from several threads behind the caller's lock, with a
// busy timeout of `busy_timeout_ms` (absorbs another connection's writer
// lock) and, for a file, WAL (readers never block the writer). The caller
// owns the connection (sqlite3_close). Unavailable when it cannot be
// opened, FailedPrecondition when WAL cannot be set (a read-only place);
// `context` leads the messages.
inline absl::StatusOr<sqlite3*> SqliteOpen(const std::string& path,
                                           absl::string_view context,
                                           int busy_timeout_ms) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(context, ": open: ", message));
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  if (path != ":memory:") {
    if (absl::Status s = SqliteExec(db, context, "PRAGMA journal_mode=WAL");
        !s.ok()) {
      sqlite3_close(db);
      return absl::FailedPreconditionError(s.message());
    }
  }
  return db;
}

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SQLITE_STATEMENT_H_
