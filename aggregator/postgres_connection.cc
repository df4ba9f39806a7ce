#include "aggregator/postgres_connection.h"

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace ghostpeer::aggregator {
namespace {

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

void PgArray::Add(absl::string_view bytes) {
  AppendBigEndian(&elements_, bytes.size(), 4);
  elements_.append(bytes.data(), bytes.size());
  ++count_;
}

void PgArray::Add(int64_t value) {
  AppendBigEndian(&elements_, 8, 4);
  AppendBigEndian(&elements_, static_cast<uint64_t>(value), 8);
  ++count_;
}

void PgArray::Add(int32_t value) {
  AppendBigEndian(&elements_, 4, 4);
  AppendBigEndian(&elements_, static_cast<uint32_t>(value), 4);
  ++count_;
}

void PgArray::AddNull() {
  AppendBigEndian(&elements_, 0xffffffffu, 4);
  has_null_ = true;
  ++count_;
}

std::string PgArray::Finish() const {
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

PgParams& PgParams::Int8(int64_t value) {
  std::string bytes;
  AppendBigEndian(&bytes, static_cast<uint64_t>(value), 8);
  return Add(kPgInt8Oid, std::move(bytes));
}

PgParams& PgParams::Text(absl::string_view value) {
  return Add(kPgTextOid, std::string(value));
}

PgParams& PgParams::Bytea(absl::string_view value) {
  return Add(kPgByteaOid, std::string(value));
}

PgParams& PgParams::Array(Oid array_type, const PgArray& array) {
  return Add(array_type, array.Finish());
}

std::vector<const char*> PgParams::pointers() const {
  std::vector<const char*> out;
  for (const std::string& v : values_) out.push_back(v.data());
  return out;
}

PgParams& PgParams::Add(Oid type, std::string bytes) {
  types_.push_back(type);
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(1);
  values_.push_back(std::move(bytes));
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

bool PgResult::IsNull(int row, int col) const {
  return PQgetisnull(result_, row, col) != 0;
}

absl::string_view PgResult::Bytes(int row, int col) const {
  return absl::string_view(PQgetvalue(result_, row, col),
                           PQgetlength(result_, row, col));
}

std::optional<int64_t> PgResult::Int(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  const int length = PQgetlength(result_, row, col);
  const char* data = PQgetvalue(result_, row, col);
  if (length == 8) return static_cast<int64_t>(ReadBigEndian(data, 8));
  if (length == 4) {
    return static_cast<int32_t>(static_cast<uint32_t>(ReadBigEndian(data, 4)));
  }
  return std::nullopt;
}

const char* PgResult::command_status() const { return PQcmdStatus(result_); }

PostgresConnection::PostgresConnection(std::string name,
                                       std::vector<std::string> secrets,
                                       PGconn* conn)
    : name_(std::move(name)), secrets_(std::move(secrets)), conn_(conn) {}

PostgresConnection::~PostgresConnection() { PQfinish(conn_); }

absl::StatusOr<std::unique_ptr<PostgresConnection>> PostgresConnection::Open(
    const std::string& uri, const std::string& application_name) {
  // Defaults first: the URI, expanded from dbname after them, overrides any.
  const char* const keywords[] = {"connect_timeout", "tcp_user_timeout",
                                  "application_name", "dbname", nullptr};
  const char* const values[] = {"10", "30000", application_name.c_str(),
                                uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("postgresql ", RedactPostgresUri(uri), ": out of memory"));
  }
  std::unique_ptr<PostgresConnection> connection(
      new PostgresConnection(RedactPostgresUri(uri), SecretsOf(uri), conn));
  // CREATE ... IF NOT EXISTS and friends send notices; libpq would print
  // them on stderr.
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    // An unparsable URI is the operator's to fix; a refused or timed-out
    // connection may pass.
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(uri.c_str(), &error);
    const bool parses = parsed != nullptr;
    PQconninfoFree(parsed);
    PQfreemem(error);
    return connection->Error(parses ? absl::StatusCode::kUnavailable
                                    : absl::StatusCode::kInvalidArgument,
                             "connect", PQerrorMessage(conn));
  }
  return connection;
}

absl::Status PostgresConnection::Error(absl::StatusCode code,
                                       const std::string& context,
                                       const std::string& message) const {
  std::string text = OneLine(message);
  for (const std::string& secret : secrets_) {
    text = absl::StrReplaceAll(text, {{secret, "***"}});
  }
  return absl::Status(
      code, absl::StrCat("postgresql ", name_, ": ", context, ": ", text));
}

absl::Status PostgresConnection::ResultError(const PGresult* result,
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

absl::Status PostgresConnection::Connect() {
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

absl::StatusOr<PgResult> PostgresConnection::Run(const char* sql,
                                                 const PgParams& params,
                                                 bool binary_result) {
  const std::vector<const char*> values = params.pointers();
  PgResult result(PQexecParams(conn_, sql, params.size(), params.types(),
                               values.data(), params.lengths(),
                               params.formats(), binary_result ? 1 : 0));
  const ExecStatusType status = result.get() == nullptr
                                    ? PGRES_FATAL_ERROR
                                    : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(result.get(), Abbreviated(sql));
  }
  return result;
}

absl::StatusOr<PgResult> PostgresConnection::RunAlone(
    const std::string& context, const char* sql, const PgParams& params) {
  absl::Status connected = Connect();
  absl::StatusOr<PgResult> result =
      connected.ok() ? Run(sql, params, /*binary_result=*/true)
                     : absl::StatusOr<PgResult>(connected);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat(context, ": ", result.status().message()));
  }
  return result;
}

absl::Status PostgresConnection::Exec(const char* sql) {
  // The simple query protocol: constant SQL only (no data goes in here),
  // which may hold several statements (a migration step).
  PgResult result(PQexec(conn_, sql));
  const ExecStatusType status = result.get() == nullptr
                                    ? PGRES_FATAL_ERROR
                                    : PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(result.get(), Abbreviated(sql));
  }
  return absl::OkStatus();
}

absl::Status PostgresConnection::Commit() {
  absl::StatusOr<PgResult> commit = Run("COMMIT", PgParams());
  if (!commit.ok()) return commit.status();
  // COMMIT of a transaction the server had already aborted answers
  // ROLLBACK, not an error.
  if (std::strcmp(commit->command_status(), "COMMIT") != 0) {
    return Error(absl::StatusCode::kInternal, "COMMIT",
                 absl::StrCat("server answered ", commit->command_status()));
  }
  return absl::OkStatus();
}

void PostgresConnection::AbortTransaction() {
  if (PQstatus(conn_) == CONNECTION_OK &&
      PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
}

}  // namespace ghostpeer::aggregator
