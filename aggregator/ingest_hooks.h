// The seams between the Ingest service and the aggregator's remediation
// (issue 11): what the service tells about agents' streams, and how orders
// reach an agent on the stream it opened (the aggregator never connects to
// agents). Interfaces, so the coordinator is tested without gRPC.
#ifndef GHOSTPEER_AGGREGATOR_INGEST_HOOKS_H_
#define GHOSTPEER_AGGREGATOR_INGEST_HOOKS_H_

#include <string>

#include "ghostpeer/v1/ingest.pb.h"

namespace ghostpeer::aggregator {

// Told by the Ingest service, on gRPC's threads with the stream's own lock
// held: implementations must be quick (queue the work) and must not call
// AgentChannel::SendToNode from inside.
class IngestObserver {
 public:
  virtual ~IngestObserver() = default;
  // `node` said `hello` (accepted by the Engine) and its ack is queued:
  // what is sent to the node from now on arrives after it.
  virtual void NodeConnected(const std::string& node,
                             const v1::Hello& hello) = 0;
  // `node`'s stream carried this outcome, validated
  // (ValidateRemediationOutcome: bounded, UTF-8, sane times). Whether the
  // order was ever issued to that node is the observer's to check.
  virtual void OutcomeReceived(const std::string& node,
                               const v1::RemediationOutcome& outcome) = 0;
};

// Sends to agents on their streams. Thread-safe.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // Queues `message` on the newest open stream of `node`, after what is
  // queued there already. False when the node has no open stream (or its
  // queue is full): nothing was sent, try again when it reconnects. True
  // says queued, not delivered: a stream may still end before the write.
  virtual bool SendToNode(const std::string& node,
                          const v1::AggregatorMessage& message) = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_INGEST_HOOKS_H_
