// The ingest stream as bytes from the wire: a sequence of gRPC length-
// prefixed messages (1 byte compressed flag, 4 bytes big-endian length, an
// AgentMessage), through what IngestService does with each: proto parsing,
// the stream rules (Hello first and once, the snapshot's node is the
// stream's), then the Engine (validation, history, socket state, detection,
// findings) over the in-memory HistoryStore of the unit tests. Anyone who
// can reach the aggregator's port sends these bytes (with a token, anyone
// holding one).
//
// Each input gets a fresh Engine, so a crash reproduces from its input alone.
// A SQLite schema per input made that six times slower (about 1,000
// executions a second); what reaches SQLite is bound parameters, covered by
// sqlite_store_test. The messages alone, through parsing and validation,
// are ingest_fuzzer's.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "aggregator/engine.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/ingest_support.h"

namespace ghostpeer::aggregator {
namespace {

// Enough for hello, events, a full snapshot and deltas against it; more
// would only make each execution slower.
constexpr size_t kMaxMessagesPerInput = 8;
constexpr size_t kGrpcPrefixSize = 5;

// Bad input must be refused with InvalidArgument, or FailedPrecondition for
// a broken stream order; any other code means a message reached a state the
// engine did not expect.
void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.ok() || absl::IsInvalidArgument(status) ||
             absl::IsFailedPrecondition(status));
}

// One stream, as IngestService's reactor handles it (ingest_service.cc).
class Stream {
 public:
  explicit Stream(Engine* engine) : engine_(*engine) {}
  ~Stream() {
    if (!node_.empty()) engine_.Disconnected(node_, instance_);
  }

  // Whether the stream goes on after `message`.
  bool Handle(v1::AgentMessage& message, absl::Time now) {
    absl::Status status = HandleMessage(message, now);
    CheckRefusal(status);
    return status.ok();
  }

 private:
  absl::Status HandleMessage(v1::AgentMessage& message, absl::Time now) {
    if (message.has_hello()) {
      if (!node_.empty()) return absl::FailedPreconditionError("hello twice");
      absl::StatusOr<uint64_t> stored = engine_.Hello(message.hello());
      if (!stored.ok()) return stored.status();
      node_ = message.hello().node();
      instance_ = message.hello().agent_instance();
      return absl::OkStatus();
    }
    if (node_.empty()) return absl::FailedPreconditionError("no hello");
    switch (message.body_case()) {
      case v1::AgentMessage::kAddressEvents: {
        const v1::AddressEventBatch& batch = message.address_events();
        absl::StatusOr<uint64_t> acked =
            engine_.IngestAddressEvents(node_, instance_, batch);
        if (!acked.ok()) return acked.status();
        // An accepted batch is acknowledged at least up to its last seq
        // (events at or below the stored seq are replays, skipped).
        if (batch.events_size() > 0) {
          FUZZ_CHECK(*acked >= batch.events(batch.events_size() - 1).seq());
        }
        return absl::OkStatus();
      }
      case v1::AgentMessage::kSocketSnapshot: {
        const v1::SocketSnapshot& snapshot = message.socket_snapshot();
        if (!snapshot.snapshot().node().empty() &&
            snapshot.snapshot().node() != node_) {
          return absl::InvalidArgumentError("snapshot of another node");
        }
        absl::StatusOr<v1::Ack> ack =
            engine_.IngestSnapshot(node_, instance_, snapshot, now);
        if (!ack.ok()) return ack.status();
        FUZZ_CHECK(ack->snapshot_id() == snapshot.snapshot_id());
        if (snapshot.full()) {
          FUZZ_CHECK(ack->full_snapshot_id() == snapshot.snapshot_id());
          // What a full snapshot holds is what the node is queried for.
          v1::ListSocketsRequest request;
          request.set_node(node_);
          FUZZ_CHECK(engine_.ListSockets(request).sockets_size() <=
                     snapshot.snapshot().sockets_size());
        }
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError("empty or unknown agent message");
    }
  }

  Engine& engine_;
  std::string node_;
  std::string instance_;
};

// The messages of the stream up to the first that gRPC or protobuf would
// refuse (the stream ends there).
std::vector<v1::AgentMessage> Unframe(absl::Span<const uint8_t> wire) {
  std::vector<v1::AgentMessage> messages;
  while (messages.size() < kMaxMessagesPerInput &&
         wire.size() >= kGrpcPrefixSize) {
    // gRPC refuses a compressed message without an encoding: only 0.
    if (wire[0] != 0) break;
    const size_t length = size_t{wire[1]} << 24 | size_t{wire[2]} << 16 |
                          size_t{wire[3]} << 8 | size_t{wire[4]};
    wire.remove_prefix(kGrpcPrefixSize);
    if (length > wire.size()) break;
    v1::AgentMessage message;
    if (!message.ParseFromArray(wire.data(), static_cast<int>(length))) break;
    messages.push_back(std::move(message));
    wire.remove_prefix(length);
  }
  return messages;
}

void FuzzIngestStream(absl::Span<const uint8_t> wire) {
  std::vector<v1::AgentMessage> messages = Unframe(wire);
  if (messages.empty()) return;  // no Engine needed: the common, fast case
  static const fuzz::FixedClock clock;
  EngineOptions options;
  options.clock = &clock;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(
      options, std::make_unique<fakes::InMemoryHistoryStore>(clock.Now()));
  FUZZ_CHECK(engine.ok());
  {
    Stream stream(engine->get());
    for (v1::AgentMessage& message : messages) {
      if (!stream.Handle(message, clock.Now())) break;
    }
  }
  const absl::Status tick = (*engine)->Tick();
  FUZZ_CHECK(tick.ok());
}

}  // namespace
}  // namespace ghostpeer::aggregator

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ghostpeer::fuzz::SilenceLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::aggregator::FuzzIngestStream(absl::MakeConstSpan(data, size));
  return 0;
}
