// All gRPC wiring of the aggregator in one place.
#ifndef GHOSTPEER_AGGREGATOR_SERVER_H_
#define GHOSTPEER_AGGREGATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "aggregator/ingest_service.h"
#include "aggregator/query_service.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::aggregator {

struct ServerOptions {
  // host:port; port 0 picks a free one (see AggregatorServer::port()).
  std::string listen = "127.0.0.1:7070";
  // Null: plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Checked on every call when set (bearer tokens, issue 5).
  CallAuthorizer authorizer;
  // When set, checked on Ingest streams instead of `authorizer` (which then
  // guards Query only), and at every Hello: tokens bound to node names.
  CallAuthorizer ingest_authorizer;
  NodeAuthorizer node_authorizer;
  int max_message_bytes = 64 << 20;
  // Per WatchFindings stream (QueryService).
  size_t max_watch_backlog = kDefaultMaxWatchBacklog;
};

// The Ingest and Query services, the gRPC health service (SERVING once
// started) and server reflection, on one listening port. Keepalive policy
// accepts agent pings every 5 s and pings idle streams itself, so a dead
// agent's stream ends instead of lingering.
class AggregatorServer {
 public:
  // Starts serving. Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<AggregatorServer>> Start(
      const ServerOptions& options, Engine* engine);
  ~AggregatorServer();

  int port() const { return port_; }
  const IngestService& ingest() const { return *ingest_; }

  // Stops accepting, ends streams after `grace`, returns when done.
  void Shutdown(absl::Duration grace);

 private:
  AggregatorServer() = default;

  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SERVER_H_
