#include "aggregator/ingest_service.h"

#include <deque>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/validation.h"
#include "common/logging.h"
#include "common/utf8.h"

namespace ghostpeer::aggregator {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// What a stream writes, in order: acks (after which the next message is
// read) and remediation orders queued from other threads. Shared with the
// service's registry, so a SendToNode racing the stream's end touches
// nothing freed: once `done` is set (before Finish), nothing is started.
struct IngestService::Outbox {
  struct Item {
    grpc::ByteBuffer bytes;
    bool read_after = false;  // an ack: read the next message once written
  };
  absl::Mutex mu;
  std::deque<Item> items ABSL_GUARDED_BY(mu);  // front() is being written
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;
  size_t queued_orders ABSL_GUARDED_BY(mu) = 0;
  ReportReactor* reactor = nullptr;  // valid while !done
};

// Read -> parse -> Engine -> write Ack -> read: one message in flight per
// stream. Orders from SendToNode join the same write queue.
class IngestService::ReportReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ReportReactor(IngestService* service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        outbox_(std::make_shared<Outbox>()) {
    absl::MutexLock lock(&callbacks_mu_);
    outbox_->reactor = this;
    ++service_->active_streams_;
    if (service_->authorizer_) {
      grpc::Status allowed = service_->authorizer_(context_);
      if (!allowed.ok()) {
        GP_LOG_WARN("ingest: refused stream from {}: {}", context_->peer(),
                    allowed.error_message());
        FinishOnce(allowed);
        return;
      }
    }
    StartRead(&request_bytes_);
  }

  // Queues `message` unless the stream is ending or kMaxQueuedOrders are
  // waiting. Any thread; takes only the outbox's lock.
  static bool Push(Outbox& outbox, const v1::AggregatorMessage& message) {
    Outbox::Item item;
    bool own_buffer;
    if (!grpc::SerializationTraits<v1::AggregatorMessage>::Serialize(
             message, &item.bytes, &own_buffer)
             .ok()) {
      return false;
    }
    absl::MutexLock lock(&outbox.mu);
    if (outbox.done || outbox.queued_orders >= kMaxQueuedOrders) return false;
    ++outbox.queued_orders;
    outbox.items.push_back(std::move(item));
    WriteNextLocked(outbox);
    return true;
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock lock(&callbacks_mu_);
    if (!ok) {
      // The agent half-closed or went away: with raw bytes, never a message
      // that failed to parse.
      FinishOnce(grpc::Status::OK);
      return;
    }
    const absl::Status parsed = Parse();
    absl::StatusOr<std::optional<v1::Ack>> ack =
        parsed.ok() ? Handle(request_)
                    : absl::StatusOr<std::optional<v1::Ack>>(parsed);
    if (!ack.ok()) {
      // The node name was validated at Hello, and a status quotes what an
      // agent sent only through EscapeForLog.
      GP_LOG_WARN("ingest: node '{}' ({}): {}", node_, context_->peer(),
                  ack.status().ToString());
      FinishOnce(ToGrpcStatus(ack.status()));
      return;
    }
    if (!ack->has_value()) {
      // Nothing to acknowledge (a remediation outcome): read on.
      StartRead(&request_bytes_);
      return;
    }
    v1::AggregatorMessage reply;
    *reply.mutable_ack() = **std::move(ack);
    Outbox::Item item;
    item.read_after = true;
    bool own_buffer;
    grpc::Status encoded =
        grpc::SerializationTraits<v1::AggregatorMessage>::Serialize(
            reply, &item.bytes, &own_buffer);
    if (!encoded.ok()) {
      FinishOnce(encoded);
      return;
    }
    {
      absl::MutexLock outbox_lock(&outbox_->mu);
      outbox_->items.push_back(std::move(item));
      WriteNextLocked(*outbox_);
    }
    if (hello_pending_) {
      // After the hello's ack is queued: whatever the observer sends now
      // arrives after it.
      hello_pending_ = false;
      {
        absl::MutexLock streams_lock(&service_->streams_mu_);
        service_->streams_[node_] = outbox_;
      }
      if (service_->observer_ != nullptr) {
        service_->observer_->NodeConnected(node_, hello_);
      }
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&callbacks_mu_);
    if (!ok) {
      FinishOnce(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "write not delivered"));
      return;
    }
    absl::MutexLock outbox_lock(&outbox_->mu);
    Outbox::Item written = std::move(outbox_->items.front());
    outbox_->items.pop_front();
    outbox_->writing = false;
    if (!written.read_after) --outbox_->queued_orders;
    if (outbox_->done) return;
    if (written.read_after) StartRead(&request_bytes_);
    WriteNextLocked(*outbox_);
  }

  void OnDone() override {
    // Taken and released: everything the last callback wrote is ordered
    // before what follows, also for ThreadSanitizer.
    { absl::MutexLock lock(&callbacks_mu_); }
    {
      // FinishOnce set done already; this makes sure for a stream gRPC
      // ended on its own.
      absl::MutexLock outbox_lock(&outbox_->mu);
      outbox_->done = true;
    }
    ReportDisconnected();
    --service_->active_streams_;
    delete this;
  }

 private:
  // Parses the bytes just read into request_. What gRPC would have done,
  // except that a failure is an answer (INVALID_ARGUMENT, counted) rather
  // than the silent end of the stream.
  absl::Status Parse() {
    // Deserialize empties request_bytes_ for the next read.
    if (grpc::SerializationTraits<v1::AgentMessage>::Deserialize(
            &request_bytes_, &request_)
            .ok()) {
      return absl::OkStatus();
    }
    service_->engine_->CountRejectedMessage();
    return absl::InvalidArgumentError(
        "the message does not parse as a ghostpeer.v1.AgentMessage (malformed "
        "bytes, or a string field that is not valid UTF-8); nothing of it "
        "was stored");
  }

  absl::StatusOr<std::optional<v1::Ack>> Handle(v1::AgentMessage& message) {
    Engine& engine = *service_->engine_;
    if (message.has_hello()) {
      if (!node_.empty()) {
        return absl::FailedPreconditionError("hello sent twice on one stream");
      }
      if (service_->node_authorizer_) {
        absl::Status allowed =
            service_->node_authorizer_(context_, message.hello().node());
        if (!allowed.ok()) return allowed;
      }
      absl::StatusOr<uint64_t> stored = engine.Hello(message.hello());
      if (!stored.ok()) return stored.status();
      node_ = message.hello().node();
      instance_ = message.hello().agent_instance();
      hello_ = message.hello();
      hello_pending_ = true;
      GP_LOG_INFO(
          "ingest: node '{}' connected from {} (agent {}, instance "
          "{}, {} address events stored before)",
          node_, context_->peer(),
          EscapeForLog(message.hello().agent_version(), 128),
          EscapeForLog(instance_, 128), *stored);
      v1::Ack ack;
      ack.set_address_seq(*stored);
      return ack;
    }
    if (node_.empty()) {
      return absl::FailedPreconditionError(
          "the first message of a stream must be hello");
    }
    switch (message.body_case()) {
      case v1::AgentMessage::kAddressEvents: {
        absl::StatusOr<uint64_t> stored = engine.IngestAddressEvents(
            node_, instance_, message.address_events());
        if (!stored.ok()) return stored.status();
        v1::Ack ack;
        ack.set_address_seq(*stored);
        return ack;
      }
      case v1::AgentMessage::kSocketSnapshot: {
        const v1::NodeSnapshot& snapshot = message.socket_snapshot().snapshot();
        if (!snapshot.node().empty() && snapshot.node() != node_) {
          return absl::InvalidArgumentError(absl::StrCat(
              "snapshot names node '", EscapeForLog(snapshot.node(), 256),
              "' on a stream that said hello as '", node_, "'"));
        }
        // The Engine keeps the snapshot: move it out of the request buffer
        // rather than copy it (the next read overwrites it anyway).
        return engine.IngestSnapshot(
            node_, instance_, std::move(*request_.mutable_socket_snapshot()),
            absl::Now());
      }
      case v1::AgentMessage::kRemediationOutcome: {
        // Validated like everything else, then the observer (the
        // remediation coordinator) checks that the order was this node's.
        v1::RemediationOutcome* outcome = message.mutable_remediation_outcome();
        absl::Status valid = ValidateRemediationOutcome(outcome, absl::Now(),
                                                        ValidationLimits());
        if (!valid.ok()) {
          engine.CountRejectedMessage();
          return valid;
        }
        engine.CountRemediationOutcome(outcome->outcome());
        GP_LOG_INFO("ingest: node '{}' remediation order {}: {} ({}, errno {})",
                    node_, EscapeForLog(outcome->order_id(), 128),
                    v1::RemediationOutcomeKind_Name(outcome->outcome()),
                    EscapeForLog(outcome->detail(), 512),
                    outcome->error_number());
        if (service_->observer_ != nullptr) {
          service_->observer_->OutcomeReceived(node_, *outcome);
        }
        return std::nullopt;
      }
      default:
        return absl::InvalidArgumentError("empty or unknown agent message");
    }
  }

  // Starts writing the front item unless a write is in flight.
  static void WriteNextLocked(Outbox& outbox)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(outbox.mu) {
    if (outbox.done || outbox.writing || outbox.items.empty()) return;
    outbox.writing = true;
    outbox.reactor->StartWrite(&outbox.items.front().bytes);
  }

  // Ends the stream once; nothing is written after. Called from callbacks
  // only.
  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock outbox_lock(&outbox_->mu);
      if (outbox_->done) return;
    }
    // Before Finish: once the agent sees its stream end, queries must
    // already say the node is disconnected (OnDone runs later, on another
    // thread, and a client may ask in between).
    ReportDisconnected();
    absl::MutexLock outbox_lock(&outbox_->mu);
    if (outbox_->done) return;
    outbox_->done = true;
    Finish(status);
  }

  // Tells the engine (and the registry of streams) that this node's stream
  // is gone, once. From FinishOnce, or from OnDone for a stream gRPC ended
  // on its own (cancelled, broken).
  void ReportDisconnected() {
    if (node_.empty() || disconnect_reported_) return;
    disconnect_reported_ = true;
    service_->engine_->Disconnected(node_, instance_);
    GP_LOG_INFO("ingest: node '{}' disconnected", node_);
    // A SendToNode meanwhile finds the outbox done (or soon done) and sends
    // nothing.
    absl::MutexLock streams_lock(&service_->streams_mu_);
    auto it = service_->streams_.find(node_);
    if (it != service_->streams_.end() && it->second.lock() == outbox_) {
      service_->streams_.erase(it);
    }
  }

  IngestService* const service_;
  grpc::CallbackServerContext* const context_;
  const std::shared_ptr<Outbox> outbox_;
  // gRPC runs one callback of a stream at a time, each on whichever thread
  // completed the operation the previous one started; that order is kept
  // inside libgrpc, where ThreadSanitizer cannot see it, so it reported our
  // members (reply_bytes_ written in OnReadDone, freed in OnDone) as raced.
  // Each callback holds this lock, uncontended, which makes the order
  // visible. Holding it across Start*/Finish is safe: gRPC never runs a
  // reaction inline from them (WatchReactor relies on the same).
  absl::Mutex callbacks_mu_;
  grpc::ByteBuffer request_bytes_;
  v1::AgentMessage request_;
  std::string node_;
  // ReportDisconnected ran (callbacks and OnDone only, one at a time).
  bool disconnect_reported_ = false;
  std::string instance_;
  // The stream's hello, to tell the observer once its ack is queued.
  v1::Hello hello_;
  bool hello_pending_ = false;
};

IngestService::IngestService(Engine* engine, CallAuthorizer authorizer,
                             NodeAuthorizer node_authorizer,
                             IngestObserver* observer)
    : engine_(engine),
      authorizer_(std::move(authorizer)),
      node_authorizer_(std::move(node_authorizer)),
      observer_(observer) {}

IngestService::~IngestService() {
  // Taken and released: the last streams' OnDone (on gRPC's threads, which
  // the server's shutdown waited for inside libgrpc, where ThreadSanitizer
  // cannot see it) is ordered before the registry is destroyed.
  absl::MutexLock lock(&streams_mu_);
}

bool IngestService::SendToNode(const std::string& node,
                               const v1::AggregatorMessage& message) {
  std::shared_ptr<Outbox> outbox;
  {
    absl::MutexLock lock(&streams_mu_);
    auto it = streams_.find(node);
    if (it != streams_.end()) outbox = it->second.lock();
  }
  return outbox != nullptr && ReportReactor::Push(*outbox, message);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
IngestService::Report(grpc::CallbackServerContext* context) {
  return new ReportReactor(this, context);
}

}  // namespace ghostpeer::aggregator
