#include "aggregator/server.h"

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/logging.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace ghostpeer::aggregator {

absl::StatusOr<std::unique_ptr<AggregatorServer>> AggregatorServer::Start(
    const ServerOptions& options, Engine* engine) {
  absl::StatusOr<HostPort> listen =
      ParseHostPort(options.listen, PortUse::kListen);
  if (!listen.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen ", listen.status().message()));
  }
  // ":PORT" is every IPv4 interface, as for the HTTP listeners; gRPC
  // itself would refuse it.
  const std::string address = listen->host.empty()
                                  ? absl::StrCat("0.0.0.0:", listen->port)
                                  : options.listen;
  std::unique_ptr<AggregatorServer> server(new AggregatorServer());
  server->ingest_ = std::make_unique<IngestService>(
      engine,
      options.ingest_authorizer ? options.ingest_authorizer
                                : options.authorizer,
      options.node_authorizer, options.ingest_observer);
  server->query_ = std::make_unique<QueryService>(engine, options.authorizer,
                                                  options.max_watch_backlog,
                                                  options.remediation);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address,
                           options.credentials
                               ? options.credentials
                               : grpc::InsecureServerCredentials(),
                           &server->port_);
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
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
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
