// The Query service: findings, sockets, address history, nodes, and a
// follow stream of finding changes.
#ifndef GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_
#define GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_

#include "aggregator/engine.h"
#include "aggregator/ingest_service.h"
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

// Serves Query on top of an Engine. Thread-safe; `engine` must outlive the
// service and every WatchFindings stream it serves (stop the server first).
class QueryService final : public v1::Query::CallbackService {
 public:
  explicit QueryService(Engine* engine, CallAuthorizer authorizer = nullptr,
                        size_t max_watch_backlog = kDefaultMaxWatchBacklog);

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

 private:
  class WatchReactor;
  // Runs `answer` unless the authorizer refuses the call.
  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  Fn answer);

  Engine* const engine_;
  const CallAuthorizer authorizer_;
  const size_t max_watch_backlog_;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_QUERY_SERVICE_H_
