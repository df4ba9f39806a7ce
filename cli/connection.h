// The CLI's side of the wire: a gRPC channel to each aggregator the flags
// name (--server a:7070,b:7070), used one at a time, with the credentials
// the flags name; per-call contexts carrying the deadline and the bearer
// token; and the translation of a failed call into the one line a person
// reads.
#ifndef GHOSTPEER_CLI_CONNECTION_H_
#define GHOSTPEER_CLI_CONNECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::cli {

struct ConnectionOptions {
  // The aggregator, "HOST:PORT" (any gRPC target: "dns:///h:7070" too),
  // or several, comma-separated, tried in this order
  // (common/endpoint_list.h).
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

// Thread-safe after Open(), except that the current endpoint belongs to
// the thread running the command (stub(), endpoint(), MoveToNextEndpoint(),
// AwaitReady()); contexts it makes are each for one call.
class QueryConnection {
 public:
  // Validates the flags and reads the token and TLS files; the channels
  // only dial on their first call. InvalidArgument for an empty server or
  // a bad list of them, a certificate without its key (or the reverse), a
  // server-name override without TLS, or an unusable token (empty, not one
  // printable line); NotFound / PermissionDenied naming the flag for
  // unreadable files.
  static absl::StatusOr<std::unique_ptr<QueryConnection>> Open(
      const ConnectionOptions& options);

  // The current endpoint's stub; the first endpoint's until a move.
  v1::Query::StubInterface& stub() { return *endpoints_[current_].stub; }
  const ConnectionOptions& options() const { return options_; }

  // Every endpoint, in the order they are tried.
  const std::vector<std::string>& endpoint_names() const {
    return endpoint_names_;
  }
  const std::string& endpoint() const { return endpoint_names_[current_]; }
  // The next endpoint becomes current (after the last: the first).
  void MoveToNextEndpoint() {
    current_ = (current_ + 1) % endpoint_names_.size();
  }
  // Whether the current endpoint's channel holds a connection now: after a
  // failed call, false means the call never reached an aggregator (or lost
  // it).
  bool Connected() const;

  // A context for one call, carrying the bearer token, and for unary calls
  // (`with_deadline`) the deadline now + timeout.
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_deadline) const;

  // Dials the current endpoint if needed and waits until its channel is
  // ready (true), or it failed to connect or `timeout` passed (false). Lets
  // `watch` tell "never reached the aggregator" from "lost it".
  bool AwaitReady(absl::Duration timeout);

 private:
  struct Endpoint {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Query::StubInterface> stub;
  };

  QueryConnection(ConnectionOptions options, std::string token,
                  std::vector<std::string> endpoint_names,
                  std::vector<Endpoint> endpoints);

  const ConnectionOptions options_;
  const std::string token_;
  const std::vector<std::string> endpoint_names_;
  std::vector<Endpoint> endpoints_;
  size_t current_ = 0;
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
