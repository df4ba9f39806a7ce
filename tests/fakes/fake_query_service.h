// A hand-written fake of the aggregator's Query service at the gRPC
// boundary: canned answers, scripted watch streams, an optional required
// bearer token, and a record of what clients sent. Served on 127.0.0.1:0.
#ifndef GHOSTPEER_TESTS_FAKES_FAKE_QUERY_SERVICE_H_
#define GHOSTPEER_TESTS_FAKES_FAKE_QUERY_SERVICE_H_

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::cli::testing {

// What one WatchFindings call does: send `events`, then either end with
// `end` or, if `hold_open`, wait until the client cancels (at most 30 s).
struct WatchScript {
  std::vector<v1::FindingEvent> events;
  bool hold_open = false;
  grpc::Status end = grpc::Status::OK;
};

// Thread-safe: gRPC calls it from its threads while the test reads it.
class FakeQueryService final : public v1::Query::Service {
 public:
  void set_findings(v1::ListFindingsResponse response);
  void set_sockets(v1::ListSocketsResponse response);
  void set_nodes(v1::ListNodesResponse response);
  // The answer to a history request without `at`.
  void set_history(v1::GetAddressHistoryResponse response);
  // The error for a history request with `at` (OK: answer as without).
  void set_history_at_error(grpc::Status status);
  // The answer to Remediate: `status` if not OK, else `response`.
  void set_remediate(grpc::Status status, v1::RemediateResponse response = {});
  void set_remediations(v1::ListRemediationsResponse response);
  // Every call must carry "authorization: Bearer <token>", else it fails
  // UNAUTHENTICATED. Empty: no check.
  void set_required_token(std::string token);
  // Scripts for successive WatchFindings calls; once used up, a call ends
  // UNAVAILABLE at once with no event.
  void add_watch_script(WatchScript script);

  // The authorization metadata of every call so far ("" when absent).
  std::vector<std::string> authorizations() const;
  std::vector<v1::ListFindingsRequest> findings_requests() const;
  std::vector<v1::GetAddressHistoryRequest> history_requests() const;
  std::vector<v1::RemediateRequest> remediate_requests() const;
  std::vector<v1::ListRemediationsRequest> remediations_requests() const;
  int watch_calls() const;
  // True once a watch call has sent its events and is holding the stream
  // open, within `timeout`.
  bool WaitForHeldWatch(absl::Duration timeout) const;

  grpc::Status ListFindings(grpc::ServerContext* context,
                            const v1::ListFindingsRequest* request,
                            v1::ListFindingsResponse* response) override;
  grpc::Status ListSockets(grpc::ServerContext* context,
                           const v1::ListSocketsRequest* request,
                           v1::ListSocketsResponse* response) override;
  grpc::Status GetAddressHistory(
      grpc::ServerContext* context, const v1::GetAddressHistoryRequest* request,
      v1::GetAddressHistoryResponse* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context,
                         const v1::ListNodesRequest* request,
                         v1::ListNodesResponse* response) override;
  grpc::Status WatchFindings(
      grpc::ServerContext* context, const v1::WatchFindingsRequest* request,
      grpc::ServerWriter<v1::FindingEvent>* writer) override;
  grpc::Status Remediate(grpc::ServerContext* context,
                         const v1::RemediateRequest* request,
                         v1::RemediateResponse* response) override;
  grpc::Status ListRemediations(
      grpc::ServerContext* context, const v1::ListRemediationsRequest* request,
      v1::ListRemediationsResponse* response) override;

 private:
  // Records the call's token and checks it.
  grpc::Status Admit(grpc::ServerContext* context);

  mutable absl::Mutex mu_;
  v1::ListFindingsResponse findings_ ABSL_GUARDED_BY(mu_);
  v1::ListSocketsResponse sockets_ ABSL_GUARDED_BY(mu_);
  v1::ListNodesResponse nodes_ ABSL_GUARDED_BY(mu_);
  v1::GetAddressHistoryResponse history_ ABSL_GUARDED_BY(mu_);
  grpc::Status history_at_error_ ABSL_GUARDED_BY(mu_);
  grpc::Status remediate_status_ ABSL_GUARDED_BY(mu_);
  v1::RemediateResponse remediate_ ABSL_GUARDED_BY(mu_);
  v1::ListRemediationsResponse remediations_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RemediateRequest> remediate_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListRemediationsRequest> remediations_requests_
      ABSL_GUARDED_BY(mu_);
  std::string required_token_ ABSL_GUARDED_BY(mu_);
  std::deque<WatchScript> watch_scripts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListFindingsRequest> findings_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::GetAddressHistoryRequest> history_requests_
      ABSL_GUARDED_BY(mu_);
  int watch_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool watch_held_ ABSL_GUARDED_BY(mu_) = false;
};

// The fake served on 127.0.0.1 at a port the kernel picked.
class FakeAggregator {
 public:
  // Plaintext unless `credentials` say otherwise (TLS tests).
  explicit FakeAggregator(std::shared_ptr<grpc::ServerCredentials> credentials =
                              grpc::InsecureServerCredentials());
  ~FakeAggregator();

  FakeQueryService& service() { return service_; }
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  // Stops serving (held streams are cancelled); later calls are refused.
  void Stop();

 private:
  FakeQueryService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace ghostpeer::cli::testing

#endif  // GHOSTPEER_TESTS_FAKES_FAKE_QUERY_SERVICE_H_
