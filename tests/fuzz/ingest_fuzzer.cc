// One AgentMessage as bytes from the wire, through protobuf parsing and the
// validation the Engine runs on it before anything is stored (Hello,
// address batches, socket snapshots, remediation outcomes; validation.h).
// Anyone who can reach the aggregator's port sends these bytes (with a token,
// anyone holding one). Fast, so it gets many executions; ingest_stream_fuzzer
// takes streams on through the Engine itself.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "aggregator/validation.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/ingest_support.h"

namespace ghostpeer::aggregator {
namespace {

constexpr char kNode[] = "fuzz-node";

// Validates `message` in place; true when accepted.
bool Validate(v1::AgentMessage* message) {
  const ValidationLimits limits;
  absl::Status status;
  switch (message->body_case()) {
    case v1::AgentMessage::kHello:
      status = ValidateHello(message->hello(), limits);
      break;
    case v1::AgentMessage::kAddressEvents:
      status = ValidateAddressEventBatch(message->mutable_address_events(),
                                         kNode, fuzz::FuzzNow(), limits);
      break;
    case v1::AgentMessage::kSocketSnapshot:
      status = ValidateSocketSnapshot(message->mutable_socket_snapshot(), kNode,
                                      fuzz::FuzzNow(), limits);
      break;
    case v1::AgentMessage::kRemediationOutcome:
      status = ValidateRemediationOutcome(
          message->mutable_remediation_outcome(), fuzz::FuzzNow(), limits);
      break;
    default:
      return false;  // the service refuses an empty body before validation
  }
  // A refusal is always InvalidArgument naming the field.
  FUZZ_CHECK(status.ok() || absl::IsInvalidArgument(status));
  FUZZ_CHECK(status.ok() || !status.message().empty());
  return status.ok();
}

void FuzzIngestMessage(const uint8_t* data, size_t size) {
  v1::AgentMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;
  if (!Validate(&message)) return;
  // What validation accepts it has normalised (canonical addresses, times
  // clamped, nodes filled in): accepting it again changes nothing.
  v1::AgentMessage again = message;
  FUZZ_CHECK(Validate(&again));
  FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(message, again));
}

}  // namespace
}  // namespace ghostpeer::aggregator

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ghostpeer::fuzz::SilenceLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::aggregator::FuzzIngestMessage(data, size);
  return 0;
}
