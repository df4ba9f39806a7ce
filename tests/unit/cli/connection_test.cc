#include "cli/connection.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace ghostpeer::cli {
namespace {

TEST(ConnectionTest, DiagnosesTransportProblems) {
  struct Case {
    const char* name;
    const char* message;
    const char* want_detail;
    const char* want_hint_part;
  };
  const Case cases[] = {
      {"refused (gRPC 1.51 wording)",
       "failed to connect to all addresses; last error: UNKNOWN: "
       "ipv4:127.0.0.1:7070: Failed to connect to remote host: Connection "
       "refused",
       "connection refused", "--server"},
      {"dns",
       "DNS resolution failed for nowhere.invalid:7070: C-ares status is not "
       "ARES_SUCCESS",
       "cannot resolve the host name", "GHOSTPEER_SERVER"},
      {"tls",
       "failed to connect to all addresses; last error: UNKNOWN: Ssl "
       "handshake failed: SSL_ERROR_SSL",
       "TLS handshake failed", "--tls-ca"},
      {"plaintext to tls", "Socket closed", "the connection was closed",
       "expect TLS"},
      {"server shutdown", "Cancelling all calls", "the aggregator shut down",
       "--server"},
      {"unknown keeps the first line", "something odd\nsecond line",
       "something odd", "--server"},
      {"empty", "", "unavailable", "--server"},
  };
  for (const Case& c : cases) {
    const TransportProblem problem = DiagnoseTransport(c.message);
    EXPECT_EQ(problem.detail, c.want_detail) << c.name;
    EXPECT_TRUE(absl::StrContains(problem.hint, c.want_hint_part))
        << c.name << ": " << problem.hint;
  }
}

TEST(ConnectionTest, DescribesFailedCallsInOneLineKeepingTheCode) {
  struct Case {
    const char* name;
    grpc::Status status;
    absl::StatusCode want_code;
    const char* want_message;
  };
  const Case cases[] = {
      {"unreachable",
       grpc::Status(grpc::StatusCode::UNAVAILABLE,
                    "failed to connect to all addresses; last error: UNKNOWN: "
                    "ipv4:127.0.0.1:7070: Failed to connect to remote host: "
                    "Connection refused"),
       absl::StatusCode::kUnavailable,
       "cannot reach aggregator at 127.0.0.1:7070: connection refused (set "
       "--server or GHOSTPEER_SERVER)"},
      {"bad token",
       grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token"),
       absl::StatusCode::kUnauthenticated,
       "the aggregator refused the credentials: invalid token"},
      {"no detail", grpc::Status(grpc::StatusCode::PERMISSION_DENIED, ""),
       absl::StatusCode::kPermissionDenied,
       "the aggregator refused the credentials: no detail given (see "
       "--token-file)"},
      {"slow",
       grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
       absl::StatusCode::kDeadlineExceeded,
       "the aggregator at 127.0.0.1:7070 did not answer within 10s (raise "
       "--timeout if it is busy)"},
      {"not an aggregator", grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""),
       absl::StatusCode::kUnimplemented,
       "the server at 127.0.0.1:7070 does not serve this query (is it a "
       "ghostpeer aggregator of this version?)"},
      {"rejected",
       grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad address\nx"),
       absl::StatusCode::kInvalidArgument,
       "the aggregator rejected the request: bad address x"},
      {"other", grpc::Status(grpc::StatusCode::INTERNAL, "database is locked"),
       absl::StatusCode::kInternal,
       "the aggregator answered INTERNAL: database is locked"},
  };
  for (const Case& c : cases) {
    const absl::Status got =
        DescribeRpcError(c.status, "127.0.0.1:7070", absl::Seconds(10));
    EXPECT_EQ(got.code(), c.want_code) << c.name;
    EXPECT_EQ(got.message(), c.want_message) << c.name;
  }
  EXPECT_TRUE(DescribeRpcError(grpc::Status::OK, "x", absl::Seconds(1)).ok());
}

TEST(ConnectionTest, OpenValidatesFlagsBeforeDialling) {
  struct Case {
    const char* name;
    ConnectionOptions options;
    absl::StatusCode want_code;
    const char* want_in_message;
  };
  ConnectionOptions empty_server;
  empty_server.server = " ";
  ConnectionOptions key_only;
  key_only.tls_key = "/dev/null";
  ConnectionOptions name_only;
  name_only.tls_server_name = "aggregator";
  ConnectionOptions missing_ca;
  missing_ca.tls_ca = "/nonexistent/ca.pem";
  ConnectionOptions plain;
  const Case cases[] = {
      {"empty server", empty_server, absl::StatusCode::kInvalidArgument,
       "--server"},
      {"key without cert", key_only, absl::StatusCode::kInvalidArgument,
       "--tls-cert"},
      {"name without tls", name_only, absl::StatusCode::kInvalidArgument,
       "needs TLS"},
      {"missing ca", missing_ca, absl::StatusCode::kNotFound,
       "reading --tls-ca /nonexistent/ca.pem"},
      {"plaintext is fine", plain, absl::StatusCode::kOk, ""},
  };
  for (const Case& c : cases) {
    auto connection = QueryConnection::Open(c.options);
    EXPECT_EQ(connection.status().code(), c.want_code) << c.name;
    EXPECT_TRUE(
        absl::StrContains(connection.status().message(), c.want_in_message))
        << c.name << ": " << connection.status();
  }
}

}  // namespace
}  // namespace ghostpeer::cli
