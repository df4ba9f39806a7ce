#include "aggregator/server.h"

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/logging.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace ghostpeer::aggregator {
namespace {

// What gRPC binds for a HOST:PORT listen flag: ":PORT" is every IPv4
// interface, as for the HTTP listeners; gRPC itself would refuse it.
absl::StatusOr<std::string> GrpcListenAddress(const std::string& listen) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(listen, PortUse::kListen);
  if (!parsed.ok()) return parsed.status();
  return parsed->host.empty() ? absl::StrCat("0.0.0.0:", parsed->port) : listen;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AggregatorServer>> AggregatorServer::Start(
    const ServerOptions& options, Engine* engine) {
  absl::StatusOr<std::string> address = GrpcListenAddress(options.listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen ", address.status().message()));
  }
  std::string peer_address;
  if (!options.peer_listen.empty()) {
    absl::StatusOr<std::string> peer = GrpcListenAddress(options.peer_listen);
    if (!peer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--peer-listen ", peer.status().message()));
    }
    peer_address = *std::move(peer);
  }
  std::unique_ptr<AggregatorServer> server(new AggregatorServer());
  server->ingest_ = std::make_unique<IngestService>(
      engine,
      options.ingest_authorizer ? options.ingest_authorizer
                                : options.authorizer,
      options.node_authorizer, options.ingest_observer);
  server->query_ = std::make_unique<QueryService>(
      engine, options.authorizer, options.max_watch_backlog,
      options.remediation, options.socket_fan_out);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::shared_ptr<grpc::ServerCredentials> credentials =
      options.credentials ? options.credentials
                          : grpc::InsecureServerCredentials();
  builder.AddListeningPort(*address, credentials, &server->port_);
  if (!peer_address.empty()) {
    builder.AddListeningPort(peer_address, credentials, &server->peer_port_);
  }
  builder.RegisterService(server->ingest_.get());
  builder.RegisterService(server->query_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // gRPC sets SO_REUSEPORT by default: a second aggregator would then bind
  // the same port and the kernel would split agents and queries between
  // two databases. One port, one aggregator, unless replicas share one
  // database and ask to share the port too.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT,
                             options.share_port ? 1 : 0);
  // Agents ping every 10 s by default; allow down to 5 s without strikes.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Our own pings find agents that vanished without a FIN.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0 ||
      (!peer_address.empty() && server->peer_port_ == 0)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        peer_address.empty() ? "" : absl::StrCat(" and ", options.peer_listen),
        " (address in use, or not an address of this host)"));
  }
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(v1::Query::service_full_name(), true);
  server->FollowStoreHealth(engine, options.health_interval);
  return server;
}

void AggregatorServer::FollowStoreHealth(Engine* engine,
                                         absl::Duration interval) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  const std::string ingest = v1::Ingest::service_full_name();
  auto follow = [engine, health, ingest] {
    const absl::Status writable = engine->StoreWritable();
    health->SetServingStatus(ingest, writable.ok());
    return writable;
  };
  // Set once before Start() returns, so the first health check is right.
  absl::Status last = follow();
  health_ = std::thread([this, interval, follow, last]() mutable {
    while (!stop_health_.WaitForNotificationWithTimeout(interval)) {
      const absl::Status now = follow();
      if (now.ok() != last.ok()) {
        if (now.ok()) {
          GP_LOG_INFO("ingest: the store writes again; health SERVING");
        } else {
          GP_LOG_ERROR("ingest: {}; health NOT_SERVING",
                       std::string(now.message()));
        }
      }
      last = now;
    }
  });
}

void AggregatorServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // A Start() that failed to bind leaves no server and no health thread.
  if (health_.joinable()) {
    stop_health_.Notify();
    health_.join();
  }
  if (server_ == nullptr) return;
  // Every service NOT_SERVING, so load balancers stop sending before the
  // port closes.
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

AggregatorServer::~AggregatorServer() { Shutdown(absl::Seconds(1)); }

}  // namespace ghostpeer::aggregator
