// An aggregator reduced to a script, for tests of the agent's stream: it
// acknowledges Hello and every snapshot, keeps the sockets the agent
// streams, sends remediation orders on the agent's stream (one after each
// Hello, and/or when the test says), and collects the outcomes. Header-only
// (gRPC sync API); register it on a grpc::ServerBuilder.
#ifndef GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_
#define GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::testing {

struct ScriptedIngestOptions {
  // Sent on every stream right after the Hello's ack (a replay on each
  // reconnect, as an aggregator replays unanswered orders).
  std::optional<v1::RemediationOrder> order_after_hello;
  // End each stream once an outcome arrived (the agent reconnects).
  bool end_after_outcome = false;
};

class ScriptedIngest final : public v1::Ingest::Service {
 public:
  explicit ScriptedIngest(ScriptedIngestOptions options = {})
      : options_(std::move(options)) {}

  grpc::Status Report(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::AggregatorMessage, v1::AgentMessage>* stream)
      override {
    v1::AgentMessage message;
    if (!stream->Read(&message) || !message.has_hello()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no hello");
    }
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(message.hello());
      stream_ = stream;
    }
    Write(Ack(0, 0));
    if (options_.order_after_hello.has_value()) {
      Send(*options_.order_after_hello);
    }
    while (stream->Read(&message)) {
      if (message.has_socket_snapshot()) {
        const v1::SocketSnapshot& snapshot = message.socket_snapshot();
        {
          absl::MutexLock lock(&mu_);
          for (const v1::SocketRecord& socket : snapshot.snapshot().sockets()) {
            sockets_[socket.remote_ip()] = socket;
          }
        }
        Write(Ack(snapshot.snapshot_id(),
                  snapshot.full() ? snapshot.snapshot_id() : 0));
      } else if (message.has_remediation_outcome()) {
        absl::MutexLock lock(&mu_);
        outcomes_.push_back(message.remediation_outcome());
        if (options_.end_after_outcome) break;
      }
    }
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    return grpc::Status::OK;
  }

  // Sends `order` on the open stream; false when there is none.
  bool Send(const v1::RemediationOrder& order) {
    v1::AggregatorMessage message;
    *message.mutable_remediation_order() = order;
    return Write(message);
  }

  // Copies, safe from any thread.
  std::vector<v1::Hello> hellos() const {
    absl::MutexLock lock(&mu_);
    return hellos_;
  }
  std::vector<v1::RemediationOutcome> outcomes() const {
    absl::MutexLock lock(&mu_);
    return outcomes_;
  }
  // The last socket streamed whose remote address is `remote`.
  std::optional<v1::SocketRecord> SocketTo(const std::string& remote) const {
    absl::MutexLock lock(&mu_);
    auto it = sockets_.find(remote);
    if (it == sockets_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static v1::AggregatorMessage Ack(uint64_t snapshot_id, uint64_t full_id) {
    v1::AggregatorMessage message;
    message.mutable_ack()->set_snapshot_id(snapshot_id);
    message.mutable_ack()->set_full_snapshot_id(full_id);
    return message;
  }

  bool Write(const v1::AggregatorMessage& message) {
    // One writer at a time on a sync stream: acks and orders share it.
    absl::MutexLock lock(&write_mu_);
    grpc::ServerReaderWriter<v1::AggregatorMessage, v1::AgentMessage>* stream;
    {
      absl::MutexLock state(&mu_);
      stream = stream_;
    }
    return stream != nullptr && stream->Write(message);
  }

  const ScriptedIngestOptions options_;
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  grpc::ServerReaderWriter<v1::AggregatorMessage, v1::AgentMessage>* stream_
      ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<v1::Hello> hellos_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::SocketRecord> sockets_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RemediationOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_
