// The Query service: findings, sockets, address history, nodes, and a
// follow stream of finding changes.
#ifndef GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_
#define GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_

#include <functional>

#include "aggregator/engine.h"
#include "aggregator/ingest_service.h"
#include "aggregator/remediation_api.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::aggregator {

// True when `finding` passes `filter` (empty fields match everything;
// min_severity is a floor; status unspecified matches both).
bool FindingMatches(const v1::ListFindingsRequest& filter,
                    const v1::Finding& finding);

// Changes a WatchFindings stream may have queued (not yet written) before
// it is ended as too slow.
inline constexpr size_t kDefaultMaxWatchBacklog = 10000;

// Who asked for a manual remediation, as Remediation.requested_by records
// it: "manual: <common name> (<peer>)" when the caller presented a client
// certificate (mutual TLS), else "manual: <peer>" (gRPC's peer string,
// "ipv4:10.0.0.5:51234"). Bearer tokens carry no name, so they add none.
// Both parts are made printable and bounded: they come from the caller.
std::string ManualRequester(absl::string_view common_name,
                            absl::string_view peer);

// Completes this replica's ListSockets answer with the sockets other
// replicas hold (peer_sockets.h: MakeSocketFanOut).
using SocketFanOut = std::function<v1::ListSocketsResponse(
    v1::ListSocketsResponse local, const v1::ListSocketsRequest& request)>;

// Serves Query on top of an Engine. Thread-safe; `engine` must outlive the
// service and every WatchFindings stream it serves (stop the server first).
// `remediation` (may be null: this aggregator then answers Remediate and
// ListRemediations with FAILED_PRECONDITION) must outlive the service.
// `socket_fan_out` (may be null: this replica's own sockets only) runs on
// every ListSockets except another replica's (kPeerQueryHeader), which is
// answered from this replica's memory: a question goes one hop at most.
class QueryService final : public v1::Query::CallbackService {
 public:
  explicit QueryService(Engine* engine, CallAuthorizer authorizer = nullptr,
                        size_t max_watch_backlog = kDefaultMaxWatchBacklog,
                        RemediationApi* remediation = nullptr,
                        SocketFanOut socket_fan_out = nullptr);

  grpc::ServerUnaryReactor* ListFindings(
      grpc::CallbackServerContext* context,
      const v1::ListFindingsRequest* request,
      v1::ListFindingsResponse* response) override;
  grpc::ServerUnaryReactor* ListSockets(
      grpc::CallbackServerContext* context,
      const v1::ListSocketsRequest* request,
      v1::ListSocketsResponse* response) override;
  grpc::ServerUnaryReactor* GetAddressHistory(
      grpc::CallbackServerContext* context,
      const v1::GetAddressHistoryRequest* request,
      v1::GetAddressHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context,
                                      const v1::ListNodesRequest* request,
                                      v1::ListNodesResponse* response) override;
  // Sends every open finding matching the filter as OPENED, then each change
  // as it happens, until the client cancels or the server shuts down. A
  // client too slow to keep up (more than max_watch_backlog events queued)
  // is ended with RESOURCE_EXHAUSTED rather than buffered without bound.
  grpc::ServerWriteReactor<v1::FindingEvent>* WatchFindings(
      grpc::CallbackServerContext* context,
      const v1::WatchFindingsRequest* request) override;
  // Acts on one finding now (RemediationApi::Remediate) for the caller,
  // named by ManualRequester. The authorizer admits it like every other
  // call: the cluster token, the only token that may query, is also the
  // only one that may ask for an action (node tokens are refused). Codes:
  // INVALID_ARGUMENT for a malformed finding id; the RemediationApi's own
  // (NOT_FOUND, FAILED_PRECONDITION with the guard that refused,
  // RESOURCE_EXHAUSTED, UNAVAILABLE) otherwise.
  grpc::ServerUnaryReactor* Remediate(grpc::CallbackServerContext* context,
                                      const v1::RemediateRequest* request,
                                      v1::RemediateResponse* response) override;
  // Recorded decisions, newest first, at most `limit` (0: 1000).
  // INVALID_ARGUMENT for a malformed filter or a limit above 10000.
  grpc::ServerUnaryReactor* ListRemediations(
      grpc::CallbackServerContext* context,
      const v1::ListRemediationsRequest* request,
      v1::ListRemediationsResponse* response) override;

 private:
  class WatchReactor;
  // Runs `answer` unless the authorizer refuses the call.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  Fn answer);
  // Unary, and UNAVAILABLE while the Engine cannot read the shared store
  // (Engine::StoreReadable): queries over the whole cluster's state.
  template <typename Fn>
  grpc::ServerUnaryReactor* ClusterQuery(grpc::CallbackServerContext* context,
                                         Fn answer);

  Engine* const engine_;
  const CallAuthorizer authorizer_;
  const size_t max_watch_backlog_;
  RemediationApi* const remediation_;
  const SocketFanOut socket_fan_out_;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_
