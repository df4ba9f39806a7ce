#include "tests/fakes/fake_query_service.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostpeer::cli::testing {

void FakeQueryService::set_findings(v1::ListFindingsResponse response) {
  absl::MutexLock lock(&mu_);
  findings_ = std::move(response);
}

void FakeQueryService::set_sockets(v1::ListSocketsResponse response) {
  absl::MutexLock lock(&mu_);
  sockets_ = std::move(response);
}

void FakeQueryService::set_nodes(v1::ListNodesResponse response) {
  absl::MutexLock lock(&mu_);
  nodes_ = std::move(response);
}

void FakeQueryService::set_history(v1::GetAddressHistoryResponse response) {
  absl::MutexLock lock(&mu_);
  history_ = std::move(response);
}

void FakeQueryService::set_history_at_error(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  history_at_error_ = std::move(status);
}

void FakeQueryService::set_remediate(grpc::Status status,
                                     v1::RemediateResponse response) {
  absl::MutexLock lock(&mu_);
  remediate_status_ = std::move(status);
  remediate_ = std::move(response);
}

void FakeQueryService::set_remediations(v1::ListRemediationsResponse response) {
  absl::MutexLock lock(&mu_);
  remediations_ = std::move(response);
}

std::vector<v1::RemediateRequest> FakeQueryService::remediate_requests() const {
  absl::MutexLock lock(&mu_);
  return remediate_requests_;
}

std::vector<v1::ListRemediationsRequest>
FakeQueryService::remediations_requests() const {
  absl::MutexLock lock(&mu_);
  return remediations_requests_;
}

grpc::Status FakeQueryService::Remediate(grpc::ServerContext* context,
                                         const v1::RemediateRequest* request,
                                         v1::RemediateResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  remediate_requests_.push_back(*request);
  if (!remediate_status_.ok()) return remediate_status_;
  *response = remediate_;
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::ListRemediations(
    grpc::ServerContext* context, const v1::ListRemediationsRequest* request,
    v1::ListRemediationsResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  remediations_requests_.push_back(*request);
  *response = remediations_;
  return grpc::Status::OK;
}

void FakeQueryService::set_required_token(std::string token) {
  absl::MutexLock lock(&mu_);
  required_token_ = std::move(token);
}

void FakeQueryService::add_watch_script(WatchScript script) {
  absl::MutexLock lock(&mu_);
  watch_scripts_.push_back(std::move(script));
}

std::vector<std::string> FakeQueryService::authorizations() const {
  absl::MutexLock lock(&mu_);
  return authorizations_;
}

std::vector<v1::ListFindingsRequest> FakeQueryService::findings_requests()
    const {
  absl::MutexLock lock(&mu_);
  return findings_requests_;
}

std::vector<v1::GetAddressHistoryRequest> FakeQueryService::history_requests()
    const {
  absl::MutexLock lock(&mu_);
  return history_requests_;
}

int FakeQueryService::watch_calls() const {
  absl::MutexLock lock(&mu_);
  return watch_calls_;
}

bool FakeQueryService::WaitForHeldWatch(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&watch_held_), timeout);
}

grpc::Status FakeQueryService::Admit(grpc::ServerContext* context) {
  std::string authorization;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  absl::MutexLock lock(&mu_);
  authorizations_.push_back(authorization);
  if (!required_token_.empty() &&
      authorization != absl::StrCat("Bearer ", required_token_)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "invalid bearer token");
  }
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::ListFindings(
    grpc::ServerContext* context, const v1::ListFindingsRequest* request,
    v1::ListFindingsResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  findings_requests_.push_back(*request);
  *response = findings_;
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::ListSockets(
    grpc::ServerContext* context, const v1::ListSocketsRequest* request,
    v1::ListSocketsResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  *response = sockets_;
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::GetAddressHistory(
    grpc::ServerContext* context, const v1::GetAddressHistoryRequest* request,
    v1::GetAddressHistoryResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  history_requests_.push_back(*request);
  if (request->has_at() && !history_at_error_.ok()) return history_at_error_;
  *response = history_;
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::ListNodes(grpc::ServerContext* context,
                                         const v1::ListNodesRequest* request,
                                         v1::ListNodesResponse* response) {
  if (auto status = Admit(context); !status.ok()) return status;
  absl::MutexLock lock(&mu_);
  *response = nodes_;
  return grpc::Status::OK;
}

grpc::Status FakeQueryService::WatchFindings(
    grpc::ServerContext* context, const v1::WatchFindingsRequest* request,
    grpc::ServerWriter<v1::FindingEvent>* writer) {
  if (auto status = Admit(context); !status.ok()) return status;
  WatchScript script;
  {
    absl::MutexLock lock(&mu_);
    ++watch_calls_;
    if (watch_scripts_.empty()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "fake: no more scripts");
    }
    script = std::move(watch_scripts_.front());
    watch_scripts_.pop_front();
  }
  for (const v1::FindingEvent& event : script.events) {
    if (!writer->Write(event)) return grpc::Status::CANCELLED;
  }
  if (!script.hold_open) return script.end;
  {
    absl::MutexLock lock(&mu_);
    watch_held_ = true;
  }
  // Bounded: a test that forgets to cancel fails instead of hanging.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!context->IsCancelled() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return grpc::Status::CANCELLED;
}

FakeAggregator::FakeAggregator(
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    std::fprintf(stderr, "fake aggregator: cannot listen on 127.0.0.1:0\n");
    std::abort();
  }
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeAggregator::~FakeAggregator() { Stop(); }

void FakeAggregator::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  server_->Wait();
  server_.reset();
}

}  // namespace ghostpeer::cli::testing
