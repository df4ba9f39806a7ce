// The Ingest service: one bidirectional stream per agent.
#ifndef GHOSTPEER_AGGREGATOR_INGEST_SERVICE_H_
#define GHOSTPEER_AGGREGATOR_INGEST_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/engine.h"
#include "aggregator/ingest_hooks.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::aggregator {

// Decides whether a call may proceed: OK, or the status to end it with
// (UNAUTHENTICATED / PERMISSION_DENIED). Null means everyone may.
using CallAuthorizer =
    std::function<grpc::Status(grpc::CallbackServerContext*)>;

// Decides whether a stream the CallAuthorizer admitted may report as `node`
// (its Hello): OK, or PermissionDenied. Null means as any node.
using NodeAuthorizer = std::function<absl::Status(grpc::CallbackServerContext*,
                                                  const std::string& node)>;

// Serves Ingest.Report on top of an Engine. Per stream: the first message
// must be Hello (else FAILED_PRECONDITION); every message but a
// RemediationOutcome (validated, logged, counted and handed to the
// IngestObserver; nothing to acknowledge) is answered with one Ack after
// the Engine stored what it covers, and the next message is read only
// then, so a slow store slows its agent, not the others. Remediation
// orders (SendToNode) are written between acks, in the order queued. A message
// the Engine rejects ends that stream with the Engine's status
// (INVALID_ARGUMENT for bad input, RESOURCE_EXHAUSTED past an ingest limit,
// PERMISSION_DENIED for a Hello the NodeAuthorizer refuses); nothing of it is
// stored. A message that does not parse as an AgentMessage (malformed wire
// format, a string field that is not UTF-8) ends the stream with
// INVALID_ARGUMENT and is counted as rejected, like any other bad message.
//
// The method is served raw (bytes in, bytes out) so that the service parses
// each message itself: with generated message types, gRPC reports a message
// it cannot deserialize to the reactor exactly as it reports the end of the
// stream (OnReadDone(false)), and the stream would end with OK.
//
// Thread-safe; `engine` must outlive the service.
class IngestService final
    : public v1::Ingest::WithRawCallbackMethod_Report<v1::Ingest::Service>,
      public AgentChannel {
 public:
  // `observer` (may be null; must outlive the service) hears hellos and
  // remediation outcomes.
  explicit IngestService(Engine* engine, CallAuthorizer authorizer = nullptr,
                         NodeAuthorizer node_authorizer = nullptr,
                         IngestObserver* observer = nullptr);
  // After the server shut down (every stream done).
  ~IngestService() override;

  // AgentChannel: queues on the node's newest stream (at most
  // kMaxQueuedOrders unwritten per stream).
  bool SendToNode(const std::string& node,
                  const v1::AggregatorMessage& message) override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Report(
      grpc::CallbackServerContext* context) override;

  // Streams open right now.
  int active_streams() const { return active_streams_.load(); }

 private:
  class ReportReactor;
  struct Outbox;

  Engine* const engine_;
  const CallAuthorizer authorizer_;
  const NodeAuthorizer node_authorizer_;
  IngestObserver* const observer_;
  std::atomic<int> active_streams_{0};
  // Each node's newest stream that said hello. A leaf lock: taken with a
  // stream's callback lock held, never with an Outbox's.
  absl::Mutex streams_mu_;
  absl::flat_hash_map<std::string, std::weak_ptr<Outbox>> streams_
      ABSL_GUARDED_BY(streams_mu_);
};

// Messages SendToNode queues on one stream before it refuses more.
inline constexpr size_t kMaxQueuedOrders = 1024;

// absl::Status -> grpc::Status, keeping code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_INGEST_SERVICE_H_
