// One libpq connection to the PostgreSQL database an aggregator's --db
// names, and what every part that keeps state there needs around it:
// binary statement parameters and results, transactions, reconnection, and
// errors mapped to absl status codes with the password scrubbed. The
// history store (postgres_store.h), alert delivery and remediation records
// each hold one, so that none of them waits on another's transaction.
#ifndef GHOSTPEER_AGGREGATOR_POSTGRES_CONNECTION_H_
#define GHOSTPEER_AGGREGATOR_POSTGRES_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
typedef unsigned int Oid;

namespace ghostpeer::aggregator {

// Whether `location` is a PostgreSQL connection URI (postgresql:// or
// postgres://), which OpenHistoryStore hands to PostgresStore.
bool IsPostgresUri(const std::string& location);

// `uri` fit for logs and error messages: the password of the user part
// ("user:secret@") and any password= query parameter replaced by "***".
// Errs on the side of hiding: everything between "://" and the last '@'
// before the query is treated as the user part.
std::string RedactPostgresUri(const std::string& uri);

// Type OIDs (catalog/pg_type.h, stable since PostgreSQL 7).
inline constexpr Oid kPgByteaOid = 17;
inline constexpr Oid kPgInt8Oid = 20;
inline constexpr Oid kPgInt4Oid = 23;
inline constexpr Oid kPgTextOid = 25;
inline constexpr Oid kPgByteaArrayOid = 1001;
inline constexpr Oid kPgInt4ArrayOid = 1007;
inline constexpr Oid kPgTextArrayOid = 1009;
inline constexpr Oid kPgInt8ArrayOid = 1016;

inline int64_t PgMicros(absl::Time t) { return absl::ToUnixMicros(t); }
inline absl::Time PgFromMicros(int64_t us) { return absl::FromUnixMicros(us); }

// A one-dimensional array in PostgreSQL's binary format (array_send):
// ndim, has-nulls flag, element type, then size and lower bound of the
// dimension, then each element as length (-1: NULL) and bytes. Binary
// parameters need no quoting or escaping of what agents sent.
class PgArray {
 public:
  explicit PgArray(Oid element) : element_(element) {}
  void Add(absl::string_view bytes);
  void Add(int64_t value);
  void Add(int32_t value);
  void AddNull();
  uint32_t size() const { return count_; }
  std::string Finish() const;

 private:
  const Oid element_;
  std::string elements_;
  uint32_t count_ = 0;
  bool has_null_ = false;
};

// Statement parameters, all in binary format.
class PgParams {
 public:
  PgParams& Int8(int64_t value);
  PgParams& Text(absl::string_view value);
  PgParams& Bytea(absl::string_view value);
  PgParams& Array(Oid array_type, const PgArray& array);
  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into values_: valid until the next Add.
  std::vector<const char*> pointers() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  PgParams& Add(Oid type, std::string bytes);
  std::vector<Oid> types_;
  std::vector<std::string> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// Owns a PGresult; reads binary-format columns.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) {
    other.result_ = nullptr;
  }
  PgResult& operator=(PgResult&&) = delete;
  ~PgResult();

  int rows() const;
  bool IsNull(int row, int col) const;
  absl::string_view Bytes(int row, int col) const;
  // Integers of 4 or 8 bytes (binary results carry the column's width);
  // nullopt for NULL or any other width.
  std::optional<int64_t> Int(int row, int col) const;
  const char* command_status() const;
  const PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

// Not thread-safe: its owner serialises every call (each store keeps a
// mutex around its connection).
//
// Connection loss: the call that finds it returns Unavailable naming the
// database (its redacted URI); the next Connect() reconnects.
//
// Status codes (SQLSTATE classes): Unavailable (connection lost or refused,
// server shutting down, serialization failure, deadlock, lock timeout, too
// many connections), FailedPrecondition (authentication, missing privilege
// or database, read-only transaction), ResourceExhausted (disk full, out of
// memory), DataLoss (data or index corrupted), Internal (anything else).
// No message carries the URI's password.
class PostgresConnection {
 public:
  // Connects to `uri` (defaults that the URI may override: connect_timeout
  // 10 s, tcp_user_timeout 30 s, application_name `application_name`).
  // InvalidArgument for a URI libpq cannot parse, Unavailable for a refused
  // or timed-out connection.
  static absl::StatusOr<std::unique_ptr<PostgresConnection>> Open(
      const std::string& uri, const std::string& application_name);
  ~PostgresConnection();
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  // Reconnects when the connection is down (and ends a transaction a failed
  // call left open); Unavailable when that fails.
  absl::Status Connect();
  // Runs one statement; the result of a command or a query, or the error.
  absl::StatusOr<PgResult> Run(const char* sql, const PgParams& params,
                               bool binary_result = false);
  // Connect(), then Run() with binary results, outside any transaction:
  // one statement that is its own transaction. Errors start with
  // "`context`: ".
  absl::StatusOr<PgResult> RunAlone(const std::string& context, const char* sql,
                                    const PgParams& params);
  // Runs constant SQL (no parameters; may be several statements).
  absl::Status Exec(const char* sql);
  // Runs `body` (returning absl::Status) between `begin` (BEGIN, or BEGIN
  // with an isolation level) and COMMIT; ROLLBACK on error. The error says
  // `what` failed.
  template <typename Body>
  absl::Status InTransaction(const char* what, const char* begin, Body body) {
    absl::Status status = Connect();
    if (status.ok()) status = Exec(begin);
    if (status.ok()) status = body();
    if (status.ok()) status = Commit();
    if (!status.ok()) {
      AbortTransaction();
      return absl::Status(status.code(), std::string(what) + ": " +
                                             std::string(status.message()));
    }
    return absl::OkStatus();
  }

  // An error about this database: its name, `context`, `message` with the
  // secrets scrubbed.
  absl::Status Error(absl::StatusCode code, const std::string& context,
                     const std::string& message) const;

  // The URI with its password hidden (RedactPostgresUri).
  const std::string& name() const { return name_; }

 private:
  PostgresConnection(std::string name, std::vector<std::string> secrets,
                     PGconn* conn);
  absl::Status Commit();
  // After a lost connection the server has aborted the transaction itself;
  // otherwise ends it here so the session is clean for the next call.
  void AbortTransaction();
  absl::Status ResultError(const PGresult* result,
                           const std::string& context) const;

  const std::string name_;
  // The password as written in the URI and decoded: scrubbed from libpq's
  // messages too, in case one ever echoes it.
  const std::vector<std::string> secrets_;
  PGconn* const conn_;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_POSTGRES_CONNECTION_H_
