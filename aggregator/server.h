// All gRPC wiring of the aggregator in one place.
#ifndef GHOSTPEER_AGGREGATOR_SERVER_H_
#define GHOSTPEER_AGGREGATOR_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "aggregator/ingest_service.h"
#include "aggregator/query_service.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::aggregator {

struct ServerOptions {
  // HOST:PORT, [IPV6]:PORT or :PORT (every IPv4 interface); port 0 picks
  // a free one (see AggregatorServer::port()).
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
  // --share-port: replicas of one aggregator on one host listen on the
  // same port (SO_REUSEPORT) and the kernel hands each new connection to
  // one of them; when one exits, its listener goes with it and agents
  // reconnect to the others. Only for replicas sharing one PostgreSQL
  // history (deploy/stack.postgres.yml): two aggregators on two SQLite
  // files would split the cluster's view between them.
  bool share_port = false;
  // Per WatchFindings stream (QueryService).
  size_t max_watch_backlog = kDefaultMaxWatchBacklog;
  // How often the Ingest service's health is brought in line with
  // Engine::StoreWritable().
  absl::Duration health_interval = absl::Seconds(1);
  // Remediation (issue 11), both optional and outliving the server: hears
  // agents' hellos and outcomes (IngestService), and serves Remediate /
  // ListRemediations (QueryService). Orders go out through agents().
  IngestObserver* ingest_observer = nullptr;
  RemediationApi* remediation = nullptr;
  // Replicas sharing a PostgreSQL store (issue 12): a second listening
  // address, private to this replica even under --share-port, where other
  // replicas ask it for its sockets (same services, credentials and
  // authorization as `listen`); empty: none. Port 0 picks a free one (see
  // AggregatorServer::peer_port()).
  std::string peer_listen;
  // Completes ListSockets with other replicas' sockets; null: none.
  SocketFanOut socket_fan_out;
};

// The Ingest and Query services, the gRPC health service and server
// reflection, on one listening port that no other process shares (gRPC's
// default SO_REUSEPORT is off: a second aggregator on the port fails to
// start instead of splitting agents and queries with the first), unless
// ServerOptions::share_port. Keepalive
// policy accepts agent pings every 5 s and pings idle streams itself, so a
// dead agent's stream ends instead of lingering.
//
// Health (grpc.health.v1): "" and "ghostpeer.v1.Query" are SERVING from
// Start() to Shutdown(); "ghostpeer.v1.Ingest" is SERVING only while the
// engine's store can write (checked every health_interval), since without
// it address events are refused and findings are not kept.
class AggregatorServer {
 public:
  // Starts serving. InvalidArgument for a listen address that is not
  // HOST:PORT with a port in 0..65535; Unavailable when it cannot be bound
  // (in use, even by another aggregator, or not an address of this host).
  // `engine` must outlive the server.
  static absl::StatusOr<std::unique_ptr<AggregatorServer>> Start(
      const ServerOptions& options, Engine* engine);
  ~AggregatorServer();

  int port() const { return port_; }
  // The port ServerOptions::peer_listen bound; 0 without one.
  int peer_port() const { return peer_port_; }
  const IngestService& ingest() const { return *ingest_; }
  // Where remediation orders go: agents' streams.
  AgentChannel* agents() { return ingest_.get(); }

  // Marks every service NOT_SERVING, stops accepting, ends streams after
  // `grace`, returns when done. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  AggregatorServer() = default;
  // Until Shutdown: keeps the Ingest service's health in line with the
  // engine's store.
  void FollowStoreHealth(Engine* engine, absl::Duration interval);

  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int peer_port_ = 0;
  bool shut_down_ = false;
  absl::Notification stop_health_;
  std::thread health_;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SERVER_H_
