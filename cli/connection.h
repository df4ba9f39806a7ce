// The CLI's side of the wire: one gRPC channel to the aggregator's Query
// service with the credentials the flags name, per-call contexts carrying
// the deadline and the bearer token, and the translation of a failed call
// into the one line a person reads.
#ifndef GHOSTPEER_CLI_CONNECTION_H_
#define GHOSTPEER_CLI_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::cli {

struct ConnectionOptions {
  // The aggregator, "HOST:PORT" (any gRPC target: "dns:///h:7070" too).
  std::string server = "127.0.0.1:7070";
  // Deadline of each unary call; also how long `watch` waits to connect.
  absl::Duration timeout = absl::Seconds(10);
  // A file holding a bearer token, sent as "authorization: Bearer <token>"
  // on every call. Empty: no token.
  std::string token_file;
  // TLS: the CA bundle the server's certificate must chain to. TLS is used
  // when this or tls_cert is set (without a CA, the system's roots).
  std::string tls_ca;
  // Mutual TLS: the client's certificate chain and private key (PEM files);
  // both or neither.
  std::string tls_cert;
  std::string tls_key;
  // The name the server's certificate must carry, when it differs from the
  // host in `server` (e.g. connecting by IP). TLS only.
  std::string tls_server_name;
  // Keepalive pings on the channel, for long-lived streams (`watch`): a
  // vanished aggregator is noticed in keepalive_time + 10 s instead of never.
  absl::Duration keepalive_time = absl::ZeroDuration();  // zero: off

  // TLS is used when a CA or a client certificate is given.
  bool uses_tls() const { return !tls_ca.empty() || !tls_cert.empty(); }
};

// Thread-safe after Open(); contexts it makes are each for one call.
class QueryConnection {
 public:
  // Validates the flags and reads the token and TLS files; the channel only
  // dials on the first call. InvalidArgument for an empty server, a
  // certificate without its key (or the reverse), a server-name override
  // without TLS, or an unusable token (empty, not one printable line);
  // NotFound / PermissionDenied naming the flag for unreadable files.
  static absl::StatusOr<std::unique_ptr<QueryConnection>> Open(
      const ConnectionOptions& options);

  v1::Query::StubInterface& stub() { return *stub_; }
  const ConnectionOptions& options() const { return options_; }

  // A context for one call, carrying the bearer token, and for unary calls
  // (`with_deadline`) the deadline now + timeout.
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_deadline) const;

  // Dials if needed and waits until the channel is ready (true), or it
  // failed to connect or `timeout` passed (false). Lets `watch` tell "never
  // reached the aggregator" from "lost it".
  bool AwaitReady(absl::Duration timeout);

 private:
  QueryConnection(ConnectionOptions options, std::string token,
                  std::shared_ptr<grpc::Channel> channel);

  const ConnectionOptions options_;
  const std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Query::StubInterface> stub_;
};

// A failed call as one line for people, keeping the gRPC code:
//   UNAVAILABLE       "cannot reach aggregator at <server>: connection
//                      refused (set --server or GHOSTPEER_SERVER)"
//   UNAUTHENTICATED,  "the aggregator refused the credentials: <detail>"
//   PERMISSION_DENIED
//   DEADLINE_EXCEEDED "the aggregator at <server> did not answer within 10s"
//   anything else     the server's message, with context.
// The message never spans lines.
absl::Status DescribeRpcError(const grpc::Status& status,
                              absl::string_view server, absl::Duration timeout);

// What an UNAVAILABLE status says went wrong on the way to the aggregator,
// in a few words, and what the person can do about it.
struct TransportProblem {
  // "connection refused", "cannot resolve the host name", "TLS handshake
  // failed", ...; the status's first line when no pattern is known.
  std::string detail;
  // "set --server or GHOSTPEER_SERVER", "check --tls-ca ...", ...
  std::string hint;
};
TransportProblem DiagnoseTransport(absl::string_view message);

// Silences gRPC's own logging (which would otherwise print multi-line
// connection errors to stderr) unless `verbose`. Process-wide; call before
// the first channel is made.
void ConfigureGrpcLogging(bool verbose);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_CONNECTION_H_
