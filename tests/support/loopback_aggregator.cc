#include "tests/support/loopback_aggregator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "aggregator/auth.h"
#include "common/status_macros.h"

namespace ghostpeer::testing {

absl::StatusOr<std::unique_ptr<LoopbackAggregator>> LoopbackAggregator::Start(
    LoopbackAggregatorOptions options) {
  std::unique_ptr<LoopbackAggregator> aggregator(
      new LoopbackAggregator(std::move(options)));
  GHOSTPEER_RETURN_IF_ERROR(aggregator->Serve("127.0.0.1:0"));
  return aggregator;
}

LoopbackAggregator::~LoopbackAggregator() { Stop(); }

std::string LoopbackAggregator::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::Status LoopbackAggregator::Serve(const std::string& listen) {
  aggregator::EngineOptions engine_options;
  engine_options.detector.confirmations = options_.confirmations;
  if (options_.db_path.empty()) {
    auto store = std::make_unique<fakes::InMemoryHistoryStore>(
        engine_options.clock->Now());
    store_ = store.get();
    GHOSTPEER_ASSIGN_OR_RETURN(
        engine_, aggregator::Engine::Open(engine_options, std::move(store)));
  } else {
    engine_options.db_path = options_.db_path;
    GHOSTPEER_ASSIGN_OR_RETURN(engine_,
                               aggregator::Engine::Open(engine_options));
  }
  aggregator::ServerOptions server_options;
  if (options_.remediation) {
    GHOSTPEER_ASSIGN_OR_RETURN(
        std::unique_ptr<aggregator::remediation::RecordStore> records,
        aggregator::remediation::SqliteRecordStore::Open(
            options_.db_path.empty()
                ? ":memory:"
                : aggregator::remediation::RecordStorePath(options_.db_path)));
    GHOSTPEER_ASSIGN_OR_RETURN(
        coordinator_,
        aggregator::remediation::Coordinator::Create(
            options_.remediation_options, engine_.get(), std::move(records)));
    server_options.ingest_observer = coordinator_.get();
    server_options.remediation = coordinator_.get();
  }
  server_options.listen = listen;
  server_options.max_watch_backlog = options_.max_watch_backlog;
  if (!options_.token.empty()) {
    server_options.authorizer =
        aggregator::BearerTokenAuthorizer(options_.token);
  }
  GHOSTPEER_ASSIGN_OR_RETURN(server_, aggregator::AggregatorServer::Start(
                                          server_options, engine_.get()));
  port_ = server_->port();
  if (coordinator_ != nullptr) coordinator_->Start(server_->agents());
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> LoopbackAggregator::NewChannel() const {
  return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

void LoopbackAggregator::Stop() {
  if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  if (coordinator_ != nullptr) coordinator_->Stop();
  server_.reset();
  coordinator_.reset();
  store_ = nullptr;
  engine_.reset();
}

absl::Status LoopbackAggregator::Restart() {
  Stop();
  return Serve(address());
}

}  // namespace ghostpeer::testing
