// An aggregator reduced to a script, for tests of the agent's stream: it
// acknowledges Hello and every snapshot, keeps the sockets the agent
// streams, sends remediation orders on the agent's stream (one after each
// Hello, and/or when the test says), and collects the outcomes. It records
// the address events it receives and acknowledges them unless told not to;
// its Hello's ack says what it "stored" (a replica reading a shared
// history says what another stored); it can also answer nothing at all.
// Header-only (gRPC sync API); register it on a grpc::ServerBuilder.
#ifndef GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_
#define GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_

#include <algorithm>
#include <cstdint>
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
  // False: read everything, answer nothing, not even the Hello (an
  // aggregator that hangs).
  bool answer = true;
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
    uint64_t stored;
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(message.hello());
      if (options_.answer) stream_ = stream;
      stored = stored_;
    }
    if (!options_.answer) {
      while (stream->Read(&message)) {
      }
      return grpc::Status::OK;
    }
    Write(Ack(0, 0, stored));
    if (options_.order_after_hello.has_value()) {
      Send(*options_.order_after_hello);
    }
    while (stream->Read(&message)) {
      if (message.has_address_events()) {
        std::optional<uint64_t> acknowledge;
        {
          absl::MutexLock lock(&mu_);
          for (const v1::AddressEvent& event :
               message.address_events().events()) {
            events_.push_back(event);
          }
          if (acknowledge_events_ &&
              !message.address_events().events().empty()) {
            stored_ = std::max(
                stored_, message.address_events().events().rbegin()->seq());
            acknowledge = stored_;
          }
        }
        if (acknowledge.has_value()) Write(Ack(0, 0, *acknowledge));
      } else if (message.has_socket_snapshot()) {
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

  // What the next Hello's ack says is stored (address_seq): a replica of a
  // shared history knows what another replica stored.
  void SetStored(uint64_t seq) {
    absl::MutexLock lock(&mu_);
    stored_ = seq;
  }
  // Whether address events are acknowledged (they are recorded either way).
  void AcknowledgeEvents(bool acknowledge) {
    absl::MutexLock lock(&mu_);
    acknowledge_events_ = acknowledge;
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
  // Every address event received, in order, resends included.
  std::vector<v1::AddressEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // The last socket streamed whose remote address is `remote`.
  std::optional<v1::SocketRecord> SocketTo(const std::string& remote) const {
    absl::MutexLock lock(&mu_);
    auto it = sockets_.find(remote);
    if (it == sockets_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static v1::AggregatorMessage Ack(uint64_t snapshot_id, uint64_t full_id,
                                   uint64_t address_seq = 0) {
    v1::AggregatorMessage message;
    message.mutable_ack()->set_snapshot_id(snapshot_id);
    message.mutable_ack()->set_full_snapshot_id(full_id);
    message.mutable_ack()->set_address_seq(address_seq);
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
  std::vector<v1::AddressEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t stored_ ABSL_GUARDED_BY(mu_) = 0;
  bool acknowledge_events_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_SCRIPTED_INGEST_H_
