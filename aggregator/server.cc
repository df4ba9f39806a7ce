#include "aggregator/server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace ghostpeer::aggregator {

absl::StatusOr<std::unique_ptr<AggregatorServer>> AggregatorServer::Start(
    const ServerOptions& options, Engine* engine) {
  std::unique_ptr<AggregatorServer> server(new AggregatorServer());
  server->ingest_ = std::make_unique<IngestService>(
      engine,
      options.ingest_authorizer ? options.ingest_authorizer
                                : options.authorizer,
      options.node_authorizer);
  server->query_ = std::make_unique<QueryService>(engine, options.authorizer,
                                                  options.max_watch_backlog);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen,
                           options.credentials
                               ? options.credentials
                               : grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->ingest_.get());
  builder.RegisterService(server->query_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
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
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        " (address in use, not local, or malformed; want HOST:PORT)"));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

void AggregatorServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

AggregatorServer::~AggregatorServer() { Shutdown(absl::Seconds(1)); }

}  // namespace ghostpeer::aggregator
