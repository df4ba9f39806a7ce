#include "aggregator/history_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "aggregator/postgres_store.h"
#include "aggregator/sqlite_store.h"

namespace ghostpeer::aggregator {

absl::Status HistoryStore::WriteHistory(
    absl::FunctionRef<void(CommittedChanges)> merge,
    absl::FunctionRef<HistoryWrite()> compute, absl::Time now) {
  // One writer: nothing committed by anyone else to merge, and the caller's
  // lock already orders this write after every earlier one.
  (void)merge;
  const HistoryWrite write = compute();
  static const HistoryChanges kNone;
  const HistoryChanges& changes =
      write.changes != nullptr ? *write.changes : kNone;
  if (write.seq.has_value()) {
    return CommitAddressBatch(write.seq->node, write.seq->agent_instance,
                              write.seq->seq, changes, now);
  }
  return CommitHistoryChanges(changes);
}

absl::StatusOr<std::unique_ptr<HistoryStore>> OpenHistoryStore(
    const std::string& location, absl::Time now) {
  if (location.empty()) {
    return absl::InvalidArgumentError(
        "history store: empty location (want a database file path or a "
        "postgresql:// URI)");
  }
  if (IsPostgresUri(location)) {
    absl::StatusOr<std::unique_ptr<PostgresStore>> postgres =
        PostgresStore::Open(location, now);
    if (!postgres.ok()) return postgres.status();
    return std::unique_ptr<HistoryStore>(std::move(*postgres));
  }
  // Any other URL names a store server this build has no support for.
  // Refusing it beats creating a SQLite file called "mysql:" in the working
  // directory.
  if (const size_t scheme_end = location.find("://");
      scheme_end != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "history store: no support for \"",
        absl::string_view(location).substr(0, scheme_end),
        "://\" stores in this build (want a SQLite database file path or a "
        "postgresql:// URI)"));
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> sqlite =
      SqliteStore::Open(location, now);
  if (!sqlite.ok()) return sqlite.status();
  return std::unique_ptr<HistoryStore>(std::move(*sqlite));
}

std::string RedactStoreLocation(const std::string& location) {
  return IsPostgresUri(location) ? RedactPostgresUri(location) : location;
}

}  // namespace ghostpeer::aggregator
