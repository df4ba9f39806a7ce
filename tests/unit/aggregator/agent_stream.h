// One agent's Ingest.Report stream, for the tests of the real services on
// 127.0.0.1:0: driven a message at a time, as an agent would.
#ifndef GHOSTPEER_TESTS_UNIT_AGGREGATOR_AGENT_STREAM_H_
#define GHOSTPEER_TESTS_UNIT_AGGREGATOR_AGENT_STREAM_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator::testing {

// Every call ends within 20 s, so a broken server fails the test instead of
// hanging it. Not thread-safe.
class AgentStream {
 public:
  // Opens the stream, carrying `token` as a bearer token unless empty.
  AgentStream(const std::shared_ptr<grpc::Channel>& channel,
              const std::string& token = "")
      : stub_(v1::Ingest::NewStub(channel)) {
    if (!token.empty()) {
      context_.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    stream_ = stub_->Report(&context_);
  }

  // Writes `message` and reads its Ack, keeping the remediation orders
  // that came before it (NextOrder); nullopt when the stream ended instead
  // (Close() then says why).
  std::optional<v1::Ack> Send(const v1::AgentMessage& message) {
    if (!stream_->Write(message)) return std::nullopt;
    v1::AggregatorMessage reply;
    while (stream_->Read(&reply)) {
      if (reply.has_ack()) return reply.ack();
      if (!reply.has_remediation_order()) return std::nullopt;
      orders_.push_back(reply.remediation_order());
    }
    return std::nullopt;
  }
  // `hello`; true when acknowledged.
  bool Hello(const v1::Hello& hello) {
    v1::AgentMessage message;
    *message.mutable_hello() = hello;
    return Send(message).has_value();
  }
  // The next remediation order: one that came before an ack, else the next
  // message (nullopt when that is no order, or the stream ended).
  std::optional<v1::RemediationOrder> NextOrder() {
    if (!orders_.empty()) {
      v1::RemediationOrder order = orders_.front();
      orders_.erase(orders_.begin());
      return order;
    }
    v1::AggregatorMessage reply;
    if (!stream_->Read(&reply) || !reply.has_remediation_order()) {
      return std::nullopt;
    }
    return reply.remediation_order();
  }
  // Orders received before acks and not yet taken.
  size_t orders_waiting() const { return orders_.size(); }
  // Writes an outcome (nothing answers it); false when the stream ended.
  bool Answer(const v1::RemediationOutcome& outcome) {
    v1::AgentMessage message;
    *message.mutable_remediation_outcome() = outcome;
    return stream_->Write(message);
  }
  // Hello as `node` (instance "<node>-agent"); true when acknowledged.
  bool Hello(const std::string& node) {
    v1::AgentMessage message;
    *message.mutable_hello() = HelloFrom(node, node + "-agent");
    return Send(message).has_value();
  }
  // An empty full snapshot of `node`; true when acknowledged.
  bool Snapshot(const std::string& node) {
    v1::AgentMessage message;
    v1::SocketSnapshot* snapshot = message.mutable_socket_snapshot();
    snapshot->set_snapshot_id(1);
    snapshot->set_full(true);
    snapshot->mutable_snapshot()->set_node(node);
    *snapshot->mutable_snapshot()->mutable_taken_at() = ToProto(absl::Now());
    return Send(message).has_value();
  }

  // Half-closes, reads what is left, and returns the stream's status.
  grpc::Status Close() {
    stream_->WritesDone();
    v1::AggregatorMessage ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }

 private:
  std::unique_ptr<v1::Ingest::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>>
      stream_;
  std::vector<v1::RemediationOrder> orders_;
};

}  // namespace ghostpeer::aggregator::testing

#endif  // GHOSTPEER_TESTS_UNIT_AGGREGATOR_AGENT_STREAM_H_
