#include "aggregator/postgres_store.h"

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator {
namespace {

// Schema migrations: kMigrations[v] takes a database from version v to v+1.
// To change the schema, append a step and bump kPostgresSchemaVersion; never
// edit a step that has shipped. The tables mirror SqliteStore's at its
// version 3 (sqlite_store.cc says what each column means).
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE intervals (
      id bigint PRIMARY KEY,
      address text NOT NULL,
      owner bytea NOT NULL,
      reporter text NOT NULL,
      source integer NOT NULL,
      since_us bigint NOT NULL,
      until_us bigint,
      scope_node text NOT NULL DEFAULT '',
      close_reason integer NOT NULL DEFAULT 0
    );
    CREATE INDEX intervals_by_until ON intervals (until_us)
      WHERE until_us IS NOT NULL;
    CREATE INDEX intervals_by_address ON intervals (address, scope_node);
    CREATE TABLE agent_seqs (
      node text NOT NULL,
      agent_instance text NOT NULL,
      seq bigint NOT NULL,
      updated_us bigint NOT NULL,
      PRIMARY KEY (node, agent_instance)
    );
    CREATE TABLE findings (
      id text PRIMARY KEY,
      node text NOT NULL,
      status integer NOT NULL,
      updated_us bigint NOT NULL,
      finding bytea NOT NULL,
      memory bytea NOT NULL
    );
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) ==
              kPostgresSchemaVersion);

// pg_advisory_xact_lock key held while migrating: "ghostpee" in ASCII, so a
// DBA listing pg_locks can tell whose it is.
constexpr int64_t kMigrationLockKey = 0x67686f7374706565;

// Type OIDs (catalog/pg_type.h, stable since PostgreSQL 7).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kByteaArrayOid = 1001;
constexpr Oid kInt4ArrayOid = 1007;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kInt8ArrayOid = 1016;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

std::string ScopeNode(const v1::AddressOwner& owner) {
  return IsClusterWide(owner) ? std::string() : owner.node();
}

void AppendBigEndian(std::string* out, uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian(const char* data, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<unsigned char>(data[i]);
  }
  return value;
}

// A one-dimensional array in PostgreSQL's binary format (array_send):
// ndim, has-nulls flag, element type, then size and lower bound of the
// dimension, then each element as length (-1: NULL) and bytes. Binary
// parameters need no quoting or escaping of what agents sent.
class ArrayBuilder {
 public:
  explicit ArrayBuilder(Oid element) : element_(element) {}
  void Add(absl::string_view bytes) {
    AppendBigEndian(&elements_, bytes.size(), 4);
    elements_.append(bytes.data(), bytes.size());
    ++count_;
  }
  void Add(int64_t value) {
    AppendBigEndian(&elements_, 8, 4);
    AppendBigEndian(&elements_, static_cast<uint64_t>(value), 8);
    ++count_;
  }
  void Add(int32_t value) {
    AppendBigEndian(&elements_, 4, 4);
    AppendBigEndian(&elements_, static_cast<uint32_t>(value), 4);
    ++count_;
  }
  void AddNull() {
    AppendBigEndian(&elements_, 0xffffffffu, 4);
    has_null_ = true;
    ++count_;
  }
  std::string Finish() const {
    std::string out;
    AppendBigEndian(&out, count_ == 0 ? 0 : 1, 4);
    AppendBigEndian(&out, has_null_ ? 1 : 0, 4);
    AppendBigEndian(&out, element_, 4);
    if (count_ > 0) {
      AppendBigEndian(&out, count_, 4);
      AppendBigEndian(&out, 1, 4);  // lower bound
    }
    out += elements_;
    return out;
  }

 private:
  const Oid element_;
  std::string elements_;
  uint32_t count_ = 0;
  bool has_null_ = false;
};

absl::StatusCode CodeForSqlState(absl::string_view state) {
  if (state.size() != 5) return absl::StatusCode::kInternal;
  const absl::string_view cls = state.substr(0, 2);
  if (cls == "08" ||                           // connection
      state == "57P01" || state == "57P02" ||  // shutting down
      state == "57P03" ||                      // starting up
      state == "57014" ||                      // statement timeout
      state == "40001" || state == "40P01" ||  // serialization
      state == "55P03" ||                      // lock timeout
      state == "53300") {                      // too many conns
    return absl::StatusCode::kUnavailable;
  }
  if (cls == "53") return absl::StatusCode::kResourceExhausted;  // disk, mem
  if (cls == "28" ||       // authentication
      state == "42501" ||  // insufficient privilege
      state == "3D000" ||  // no such database
      state == "25006") {  // read-only transaction (a hot standby)
    return absl::StatusCode::kFailedPrecondition;
  }
  if (state == "XX001" || state == "XX002") return absl::StatusCode::kDataLoss;
  return absl::StatusCode::kInternal;
}

// libpq's messages end in a newline and may span lines; logs want one line.
std::string OneLine(absl::string_view message) {
  std::string line = absl::StrReplaceAll(
      absl::StripTrailingAsciiWhitespace(message), {{"\n", " "}});
  return line;
}

// Percent-decodes a URI component; malformed escapes stay as they are.
std::string PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The password as it appears in `uri` (raw and decoded), to scrub from any
// message, and as libpq parses it.
std::vector<std::string> SecretsOf(const std::string& uri) {
  std::vector<std::string> secrets;
  auto add = [&secrets](absl::string_view raw) {
    if (raw.empty()) return;
    secrets.emplace_back(raw);
    std::string decoded = PercentDecode(raw);
    if (decoded != raw) secrets.push_back(std::move(decoded));
  };
  const size_t scheme_end = uri.find("://");
  if (scheme_end != std::string::npos) {
    const size_t start = scheme_end + 3;
    const size_t at = uri.rfind('@');
    if (at != std::string::npos && at >= start) {
      const absl::string_view user_info =
          absl::string_view(uri).substr(start, at - start);
      const size_t colon = user_info.find(':');
      if (colon != absl::string_view::npos) add(user_info.substr(colon + 1));
    }
  }
  if (const size_t query = uri.find('?'); query != std::string::npos) {
    for (absl::string_view param :
         absl::StrSplit(absl::string_view(uri).substr(query + 1), '&')) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(param, absl::MaxSplits('=', 1));
      if (absl::EqualsIgnoreCase(kv.first, "password")) add(kv.second);
    }
  }
  char* error = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error)) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr) {
        add(o->val);
      }
    }
    PQconninfoFree(options);
  }
  PQfreemem(error);
  return secrets;
}

void IgnoreNotice(void*, const char*) {}

// A statement's start, to say which one failed.
std::string Abbreviated(const char* sql) {
  std::string statement(sql);
  absl::RemoveExtraAsciiWhitespace(&statement);
  if (statement.size() > 60) statement = statement.substr(0, 60) + "...";
  return statement;
}

}  // namespace

bool IsPostgresUri(const std::string& location) {
  return absl::StartsWith(location, "postgresql://") ||
         absl::StartsWith(location, "postgres://");
}

std::string RedactPostgresUri(const std::string& uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) return uri;
  const size_t start = scheme_end + 3;
  std::string out = uri;
  // The last '@' anywhere: a password with an unescaped '@', '/' or '?' in
  // it then still falls inside the hidden part (at worst, so does the host).
  const size_t at = out.rfind('@');
  if (at != std::string::npos && at >= start) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out = absl::StrCat(out.substr(0, colon), ":***", out.substr(at));
    }
  }
  const size_t query = out.find('?', start);
  if (query == std::string::npos) return out;
  std::vector<std::string> params =
      absl::StrSplit(absl::string_view(out).substr(query + 1), '&');
  for (std::string& param : params) {
    const size_t eq = param.find('=');
    if (eq != std::string::npos &&
        absl::EqualsIgnoreCase(absl::string_view(param).substr(0, eq),
                               "password")) {
      param = absl::StrCat(param.substr(0, eq), "=***");
    }
  }
  return absl::StrCat(out.substr(0, query + 1), absl::StrJoin(params, "&"));
}

// Statement parameters, all in binary format.
class PostgresStore::Params {
 public:
  Params& Int8(int64_t value) {
    std::string bytes;
    AppendBigEndian(&bytes, static_cast<uint64_t>(value), 8);
    return Add(kInt8Oid, std::move(bytes));
  }
  Params& Text(absl::string_view value) {
    return Add(kTextOid, std::string(value));
  }
  Params& Array(Oid array_type, const ArrayBuilder& array) {
    return Add(array_type, array.Finish());
  }
  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into values_: valid until the next Add.
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (const std::string& v : values_) out.push_back(v.data());
    return out;
  }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(Oid type, std::string bytes) {
    types_.push_back(type);
    lengths_.push_back(static_cast<int>(bytes.size()));
    formats_.push_back(1);
    values_.push_back(std::move(bytes));
    return *this;
  }
  std::vector<Oid> types_;
  std::vector<std::string> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// Owns a PGresult; reads binary-format columns.
class PostgresStore::Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  Result(Result&& other) noexcept : result_(other.result_) {
    other.result_ = nullptr;
  }
  Result& operator=(Result&&) = delete;
  ~Result() { PQclear(result_); }

  int rows() const { return PQntuples(result_); }
  bool IsNull(int row, int col) const {
    return PQgetisnull(result_, row, col) != 0;
  }
  absl::string_view Bytes(int row, int col) const {
    return absl::string_view(PQgetvalue(result_, row, col),
                             PQgetlength(result_, row, col));
  }
  // Integers of 4 or 8 bytes (binary results carry the column's width).
  std::optional<int64_t> Int(int row, int col) const {
    const int length = PQgetlength(result_, row, col);
    const char* data = PQgetvalue(result_, row, col);
    if (length == 8) return static_cast<int64_t>(ReadBigEndian(data, 8));
    if (length == 4) {
      return static_cast<int32_t>(
          static_cast<uint32_t>(ReadBigEndian(data, 4)));
    }
    return std::nullopt;
  }
  const char* command_status() const { return PQcmdStatus(result_); }
  const PGresult* get() const { return result_; }

 private:
  PGresult* result_;
};

PostgresStore::PostgresStore(std::string name, std::vector<std::string> secrets,
                             PGconn* conn)
    : name_(std::move(name)), secrets_(std::move(secrets)), conn_(conn) {}

PostgresStore::~PostgresStore() {
  absl::MutexLock lock(&mu_);
  PQfinish(conn_);
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& uri, absl::Time now) {
  // Defaults first: the URI, expanded from dbname after them, overrides any.
  const char* const keywords[] = {"connect_timeout", "tcp_user_timeout",
                                  "application_name", "dbname", nullptr};
  const char* const values[] = {"10", "30000", "ghostpeer-aggregator",
                                uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("postgresql ", RedactPostgresUri(uri), ": out of memory"));
  }
  std::unique_ptr<PostgresStore> store(
      new PostgresStore(RedactPostgresUri(uri), SecretsOf(uri), conn));
  // CREATE ... IF NOT EXISTS and friends send notices; libpq would print
  // them on stderr.
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  absl::MutexLock lock(&store->mu_);
  if (PQstatus(conn) != CONNECTION_OK) {
    // An unparsable URI is the operator's to fix; a refused or timed-out
    // connection may pass.
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(uri.c_str(), &error);
    const bool parses = parsed != nullptr;
    PQconninfoFree(parsed);
    PQfreemem(error);
    return store->Error(parses ? absl::StatusCode::kUnavailable
                               : absl::StatusCode::kInvalidArgument,
                        "connect", PQerrorMessage(conn));
  }
  GHOSTPEER_RETURN_IF_ERROR(store->Migrate(now));
  return store;
}

absl::Status PostgresStore::Error(absl::StatusCode code,
                                  const std::string& context,
                                  const std::string& message) const {
  std::string text = OneLine(message);
  for (const std::string& secret : secrets_) {
    text = absl::StrReplaceAll(text, {{secret, "***"}});
  }
  return absl::Status(
      code, absl::StrCat("postgresql ", name_, ": ", context, ": ", text));
}

absl::Status PostgresStore::ResultError(const PGresult* result,
                                        const std::string& context) const {
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Error(absl::StatusCode::kUnavailable,
                 absl::StrCat(context, ": connection lost"),
                 PQerrorMessage(conn_));
  }
  const char* state = result == nullptr
                          ? nullptr
                          : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary =
      result == nullptr ? nullptr
                        : PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  // The primary message only: DETAIL lines quote row values.
  std::string message = primary != nullptr ? primary : PQerrorMessage(conn_);
  if (state != nullptr) absl::StrAppend(&message, " (SQLSTATE ", state, ")");
  return Error(
      state != nullptr ? CodeForSqlState(state) : absl::StatusCode::kInternal,
      context, message);
}

absl::Status PostgresStore::Connect() {
  if (PQstatus(conn_) == CONNECTION_OK) {
    // A call that died between BEGIN and COMMIT without its ROLLBACK
    // reaching the server would leave the session in a transaction.
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
  }
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Error(absl::StatusCode::kUnavailable, "reconnect",
                 PQerrorMessage(conn_));
  }
  return absl::OkStatus();
}

absl::StatusOr<PostgresStore::Result> PostgresStore::Run(const char* sql,
                                                         const Params& params,
                                                         bool binary_result) {
  const std::vector<const char*> values = params.pointers();
  Result result(PQexecParams(conn_, sql, params.size(), params.types(),
                             values.data(), params.lengths(), params.formats(),
                             binary_result ? 1 : 0));
  const ExecStatusType status = result.get() == nullptr
                                    ? PGRES_FATAL_ERROR
                                    : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(result.get(), Abbreviated(sql));
  }
  return result;
}

absl::Status PostgresStore::Exec(const char* sql) {
  // The simple query protocol: constant SQL only (no data goes in here),
  // which may hold several statements (a migration step).
  Result result(PQexec(conn_, sql));
  const ExecStatusType status = result.get() == nullptr
                                    ? PGRES_FATAL_ERROR
                                    : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(result.get(), Abbreviated(sql));
  }
  return absl::OkStatus();
}

template <typename Body>
absl::Status PostgresStore::InTransaction(const char* what, const char* begin,
                                          Body body) {
  absl::Status status = Connect();
  if (status.ok()) status = Exec(begin);
  if (status.ok()) status = body();
  if (status.ok()) {
    absl::StatusOr<Result> commit = Run("COMMIT", Params());
    status = commit.status();
    // COMMIT of a transaction the server had already aborted answers
    // ROLLBACK, not an error.
    if (status.ok() && std::strcmp(commit->command_status(), "COMMIT") != 0) {
      status =
          Error(absl::StatusCode::kInternal, "COMMIT",
                absl::StrCat("server answered ", commit->command_status()));
    }
  }
  if (!status.ok()) {
    // After a lost connection the server has aborted the transaction
    // itself; otherwise end it here so the session is clean for the next
    // call.
    if (PQstatus(conn_) == CONNECTION_OK &&
        PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
    return absl::Status(status.code(),
                        absl::StrCat(what, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::Migrate(absl::Time now) {
  int found = 0;
  GHOSTPEER_RETURN_IF_ERROR(InTransaction(
      "migrate schema", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        // Two aggregators starting on one new database: the second waits
        // here until the first committed, then finds the schema current.
        GHOSTPEER_RETURN_IF_ERROR(Run("SELECT pg_advisory_xact_lock($1)",
                                      Params().Int8(kMigrationLockKey))
                                      .status());
        GHOSTPEER_RETURN_IF_ERROR(
            Exec("CREATE TABLE IF NOT EXISTS schema_version "
                 "(version integer NOT NULL)"));
        GHOSTPEER_ASSIGN_OR_RETURN(
            Result version,
            Run("SELECT COALESCE(MAX(version), 0) FROM schema_version",
                Params(), /*binary_result=*/true));
        if (version.rows() != 1 || !version.Int(0, 0).has_value()) {
          return Error(absl::StatusCode::kDataLoss, "read schema version",
                       "no answer");
        }
        found = static_cast<int>(*version.Int(0, 0));
        if (found > kPostgresSchemaVersion) {
          return absl::FailedPreconditionError(absl::StrCat(
              "postgresql ", name_, " has schema version ", found,
              ", newer than this ghostpeer-aggregator understands (",
              kPostgresSchemaVersion, "); use a newer build or another --db"));
        }
        for (int step = found; step < kPostgresSchemaVersion; ++step) {
          GHOSTPEER_RETURN_IF_ERROR(Exec(kMigrations[step]));
          GHOSTPEER_RETURN_IF_ERROR(Exec("DELETE FROM schema_version"));
          GHOSTPEER_RETURN_IF_ERROR(
              Run("INSERT INTO schema_version VALUES ($1::bigint)",
                  Params().Int8(step + 1))
                  .status());
          if (step == 0) {
            GHOSTPEER_RETURN_IF_ERROR(
                Run("INSERT INTO meta VALUES ('created_us', $1)",
                    Params().Text(absl::StrCat(Micros(now))))
                    .status());
          }
        }
        return absl::OkStatus();
      }));
  GHOSTPEER_ASSIGN_OR_RETURN(
      Result meta, Run("SELECT value FROM meta WHERE key = 'created_us'",
                       Params(), /*binary_result=*/true));
  int64_t created_us = 0;
  if (meta.rows() != 1 || !absl::SimpleAtoi(meta.Bytes(0, 0), &created_us)) {
    return absl::DataLossError(
        absl::StrCat("postgresql ", name_, ": meta.created_us missing"));
  }
  created_at_ = FromMicros(created_us);
  return absl::OkStatus();
}

absl::StatusOr<StoredState> PostgresStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.created_at = created_at_;
  GHOSTPEER_RETURN_IF_ERROR(InTransaction(
      "load", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        GHOSTPEER_ASSIGN_OR_RETURN(
            Result rows,
            Run("SELECT id, owner, reporter, source, since_us, until_us, "
                "close_reason FROM intervals",
                Params(), /*binary_result=*/true));
        for (int r = 0; r < rows.rows(); ++r) {
          OwnershipInterval interval;
          const std::optional<int64_t> id = rows.Int(r, 0);
          const std::optional<int64_t> source = rows.Int(r, 3);
          const std::optional<int64_t> since = rows.Int(r, 4);
          const std::optional<int64_t> reason = rows.Int(r, 6);
          if (!id || !source || !since || !reason ||
              (!rows.IsNull(r, 5) && !rows.Int(r, 5))) {
            return absl::DataLossError(absl::StrCat(
                "postgresql ", name_, ": interval row ", r, ": bad columns"));
          }
          interval.id = *id;
          if (!interval.owner.ParseFromArray(rows.Bytes(r, 1).data(),
                                             rows.Bytes(r, 1).size())) {
            return absl::DataLossError(absl::StrCat(
                "postgresql ", name_, ": interval ", *id, ": bad owner"));
          }
          interval.reporter = std::string(rows.Bytes(r, 2));
          interval.source = static_cast<v1::AddressEventSource>(*source);
          interval.since = FromMicros(*since);
          interval.until = rows.IsNull(r, 5) ? absl::InfiniteFuture()
                                             : FromMicros(*rows.Int(r, 5));
          // A reason this build does not know reads as unspecified.
          if (!interval.open() && *reason >= 0 && *reason <= INT32_MAX &&
              v1::CloseReason_IsValid(static_cast<int>(*reason))) {
            interval.close_reason = static_cast<v1::CloseReason>(*reason);
          }
          state.intervals.push_back(std::move(interval));
        }
        GHOSTPEER_ASSIGN_OR_RETURN(
            Result seqs,
            Run("SELECT node, agent_instance, seq FROM agent_seqs", Params(),
                /*binary_result=*/true));
        for (int r = 0; r < seqs.rows(); ++r) {
          const std::optional<int64_t> seq = seqs.Int(r, 2);
          if (!seq) {
            return absl::DataLossError(absl::StrCat(
                "postgresql ", name_, ": agent seq row ", r, ": bad seq"));
          }
          state.seqs.push_back({std::string(seqs.Bytes(r, 0)),
                                std::string(seqs.Bytes(r, 1)),
                                static_cast<uint64_t>(*seq)});
        }
        GHOSTPEER_ASSIGN_OR_RETURN(
            Result findings, Run("SELECT id, finding, memory FROM findings",
                                 Params(), /*binary_result=*/true));
        for (int r = 0; r < findings.rows(); ++r) {
          StoredFinding stored;
          const absl::string_view bytes = findings.Bytes(r, 1);
          if (!stored.finding.ParseFromArray(bytes.data(), bytes.size())) {
            return absl::DataLossError(
                absl::StrCat("postgresql ", name_, ": finding ",
                             findings.Bytes(r, 0), ": bad record"));
          }
          stored.memory = std::string(findings.Bytes(r, 2));
          state.findings.push_back(std::move(stored));
        }
        return absl::OkStatus();
      }));
  return state;
}

absl::Status PostgresStore::WriteChanges(const HistoryChanges& changes) {
  // Inserts go first, as one statement; then closes and owner updates, one
  // statement each. Equivalent to applying the ops in order: an op only
  // closes or updates an interval inserted before it, closes and owner
  // updates touch different columns, and of several ops of one kind on one
  // interval the last carries its final state (`after`), so only the last
  // is kept (an UPDATE matching a row twice would pick one at random).
  ArrayBuilder ids(kInt8Oid), addresses(kTextOid), owners(kByteaOid),
      reporters(kTextOid), sources(kInt4Oid), sinces(kInt8Oid),
      untils(kInt8Oid), scopes(kTextOid), reasons(kInt4Oid);
  int inserts = 0;
  absl::flat_hash_map<IntervalId, const OwnershipInterval*> closes, updates;
  std::vector<IntervalId> close_order, update_order;
  for (const HistoryOp& op : changes) {
    const OwnershipInterval& interval = op.after;
    switch (op.kind) {
      case HistoryOp::Kind::kInsert:
        ids.Add(static_cast<int64_t>(interval.id));
        addresses.Add(interval.owner.address());
        owners.Add(interval.owner.SerializeAsString());
        reporters.Add(interval.reporter);
        sources.Add(static_cast<int32_t>(interval.source));
        sinces.Add(Micros(interval.since));
        if (interval.open()) {
          untils.AddNull();
        } else {
          untils.Add(Micros(interval.until));
        }
        scopes.Add(ScopeNode(interval.owner));
        reasons.Add(static_cast<int32_t>(interval.close_reason));
        ++inserts;
        break;
      case HistoryOp::Kind::kClose:
        if (closes.insert_or_assign(interval.id, &interval).second) {
          close_order.push_back(interval.id);
        }
        break;
      case HistoryOp::Kind::kUpdateOwner:
        if (updates.insert_or_assign(interval.id, &interval).second) {
          update_order.push_back(interval.id);
        }
        break;
    }
  }
  if (inserts > 0) {
    GHOSTPEER_RETURN_IF_ERROR(
        Run("INSERT INTO intervals (id, address, owner, reporter, source, "
            "since_us, until_us, scope_node, close_reason) "
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], "
            "$4::text[], $5::integer[], $6::bigint[], $7::bigint[], "
            "$8::text[], $9::integer[])",
            Params()
                .Array(kInt8ArrayOid, ids)
                .Array(kTextArrayOid, addresses)
                .Array(kByteaArrayOid, owners)
                .Array(kTextArrayOid, reporters)
                .Array(kInt4ArrayOid, sources)
                .Array(kInt8ArrayOid, sinces)
                .Array(kInt8ArrayOid, untils)
                .Array(kTextArrayOid, scopes)
                .Array(kInt4ArrayOid, reasons))
            .status());
  }
  if (!close_order.empty()) {
    ArrayBuilder close_ids(kInt8Oid), close_untils(kInt8Oid),
        close_reasons(kInt4Oid);
    for (IntervalId id : close_order) {
      const OwnershipInterval& interval = *closes[id];
      close_ids.Add(static_cast<int64_t>(id));
      close_untils.Add(Micros(interval.until));
      close_reasons.Add(static_cast<int32_t>(interval.close_reason));
    }
    GHOSTPEER_RETURN_IF_ERROR(
        Run("UPDATE intervals AS i SET until_us = c.until_us, "
            "close_reason = c.close_reason "
            "FROM unnest($1::bigint[], $2::bigint[], $3::integer[]) "
            "AS c (id, until_us, close_reason) WHERE i.id = c.id",
            Params()
                .Array(kInt8ArrayOid, close_ids)
                .Array(kInt8ArrayOid, close_untils)
                .Array(kInt4ArrayOid, close_reasons))
            .status());
  }
  if (!update_order.empty()) {
    ArrayBuilder update_ids(kInt8Oid), update_owners(kByteaOid),
        update_scopes(kTextOid);
    for (IntervalId id : update_order) {
      const OwnershipInterval& interval = *updates[id];
      update_ids.Add(static_cast<int64_t>(id));
      update_owners.Add(interval.owner.SerializeAsString());
      update_scopes.Add(ScopeNode(interval.owner));  // a merge may scope it
    }
    GHOSTPEER_RETURN_IF_ERROR(
        Run("UPDATE intervals AS i SET owner = u.owner, "
            "scope_node = u.scope_node "
            "FROM unnest($1::bigint[], $2::bytea[], $3::text[]) "
            "AS u (id, owner, scope_node) WHERE i.id = u.id",
            Params()
                .Array(kInt8ArrayOid, update_ids)
                .Array(kByteaArrayOid, update_owners)
                .Array(kTextArrayOid, update_scopes))
            .status());
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::CommitAddressBatch(
    const std::string& node, const std::string& agent_instance, uint64_t seq,
    const HistoryChanges& changes, absl::Time now) {
  absl::MutexLock lock(&mu_);
  return InTransaction("store address events", "BEGIN",
                       [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                         GHOSTPEER_RETURN_IF_ERROR(WriteChanges(changes));
                         // The uint64 seq's bit pattern in a bigint, compared
                         // as SqliteStore does (see there): the larger of two
                         // seqs is the larger signed value when their signs
                         // agree, the negative one when they differ.
                         return Run(R"sql(
            INSERT INTO agent_seqs AS s (node, agent_instance, seq, updated_us)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (node, agent_instance) DO UPDATE SET
              seq = CASE
                WHEN (s.seq < 0) = (excluded.seq < 0)
                  THEN GREATEST(s.seq, excluded.seq)
                WHEN s.seq < 0 THEN s.seq
                ELSE excluded.seq
              END,
              updated_us = excluded.updated_us)sql",
                                    Params()
                                        .Text(node)
                                        .Text(agent_instance)
                                        .Int8(static_cast<int64_t>(seq))
                                        .Int8(Micros(now)))
                             .status();
                       });
}

absl::Status PostgresStore::CommitHistoryChanges(
    const HistoryChanges& changes) {
  if (changes.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return InTransaction("store history changes", "BEGIN",
                       [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                         return WriteChanges(changes);
                       });
}

absl::Status PostgresStore::SaveFindings(
    const std::vector<StoredFinding>& findings, absl::Time now) {
  if (findings.empty()) return absl::OkStatus();
  // ON CONFLICT cannot touch one row twice in a statement: the last of
  // several findings with one id wins, as sequential replaces would.
  absl::flat_hash_map<std::string, const StoredFinding*> last;
  std::vector<std::string> order;
  for (const StoredFinding& stored : findings) {
    if (last.insert_or_assign(stored.finding.id(), &stored).second) {
      order.push_back(stored.finding.id());
    }
  }
  ArrayBuilder ids(kTextOid), nodes(kTextOid), statuses(kInt4Oid),
      records(kByteaOid), memories(kByteaOid);
  for (const std::string& id : order) {
    const StoredFinding& stored = *last[id];
    ids.Add(id);
    nodes.Add(stored.finding.socket().node());
    statuses.Add(static_cast<int32_t>(stored.finding.status()));
    records.Add(stored.finding.SerializeAsString());
    memories.Add(stored.memory);
  }
  absl::MutexLock lock(&mu_);
  return InTransaction(
      "store findings", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return Run("INSERT INTO findings (id, node, status, updated_us, "
                   "finding, memory) "
                   "SELECT f.id, f.node, f.status, $4, f.finding, f.memory "
                   "FROM unnest($1::text[], $2::text[], $3::integer[], "
                   "$5::bytea[], $6::bytea[]) "
                   "AS f (id, node, status, finding, memory) "
                   "ON CONFLICT (id) DO UPDATE SET node = excluded.node, "
                   "status = excluded.status, "
                   "updated_us = excluded.updated_us, "
                   "finding = excluded.finding, memory = excluded.memory",
                   Params()
                       .Array(kTextArrayOid, ids)
                       .Array(kTextArrayOid, nodes)
                       .Array(kInt4ArrayOid, statuses)
                       .Int8(Micros(now))
                       .Array(kByteaArrayOid, records)
                       .Array(kByteaArrayOid, memories))
            .status();
      });
}

absl::Status PostgresStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  const int64_t horizon_us = Micros(horizon);
  return InTransaction(
      "purge", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const char* const kStatements[] = {
            "DELETE FROM intervals WHERE until_us IS NOT NULL AND "
            "until_us < $1",
            "DELETE FROM findings WHERE status = 2 AND updated_us < $1",
            "DELETE FROM agent_seqs WHERE updated_us < $1",
        };
        static_assert(v1::RESOLVED == 2);
        for (const char* sql : kStatements) {
          GHOSTPEER_RETURN_IF_ERROR(
              Run(sql, Params().Int8(horizon_us)).status());
        }
        return absl::OkStatus();
      });
}

}  // namespace ghostpeer::aggregator
