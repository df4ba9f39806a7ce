// ctnetlink conntrack events, as a ConntrackFollower applies them: any
// process with CAP_NET_ADMIN in a followed namespace shapes its entries.
// Input: one receive buffer, as read (the kernel sends one event a
// datagram, anyone else may send more), applied to a table as the follower
// does, then applied again (a resync's replay: NEW replaces, DESTROY of a
// gone flow changes nothing).
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/conntrack_follower.h"
#include "agent/translation.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/translation_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzConntrackEvents(absl::Span<const uint8_t> input) {
  std::vector<ConntrackEvent> events;
  const absl::Status status = ParseConntrackEvents(input, &events);
  // Malformed bytes are InvalidArgument; DataLoss never escapes as such.
  FUZZ_CHECK(!absl::IsDataLoss(status));
  size_t news = 0;
  for (const ConntrackEvent& event : events) {
    fuzz::CheckTranslation(event.flow, Translator::kConntrack);
    if (event.kind == ConntrackEvent::Kind::kNew) ++news;
  }
  // Applying a datagram is parsing it and applying its events in order.
  ConntrackFlowTable by_event;
  for (const ConntrackEvent& event : events) by_event.Apply(event);
  ConntrackFlowTable table;
  size_t applied = 0;
  FUZZ_CHECK(table.ApplyDatagram(input, &applied).code() == status.code());
  FUZZ_CHECK(applied == events.size());
  FUZZ_CHECK(table.size() == by_event.size());
  FUZZ_CHECK(table.size() <= news);  // only a NEW adds a flow
  // Replayed: the last event for each original tuple decides again.
  table.ApplyDatagram(input).IgnoreError();
  FUZZ_CHECK(table.size() == by_event.size());
  for (const Translation& flow : table.Flows()) {
    fuzz::CheckTranslation(flow, Translator::kConntrack);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::FuzzConntrackEvents(absl::MakeConstSpan(data, size));
  return 0;
}
