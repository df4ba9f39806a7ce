// ctnetlink conntrack dumps: a namespace's conntrack entries are made by
// whatever talks through it (any container sends packets; with
// CAP_NET_ADMIN over its namespace it can insert entries with chosen
// tuples). Input: one receive buffer.
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/translation.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/translation_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzConntrackDump(absl::Span<const uint8_t> buffer) {
  std::vector<Translation> flows;
  bool done = false;
  const absl::Status status = ParseConntrackDump(buffer, &flows, &done);
  // Malformed bytes are InvalidArgument; other codes only come from an
  // NLMSG_ERROR/DONE errno, and DataLoss (a code that is no errno) never
  // escapes as such.
  FUZZ_CHECK(!absl::IsDataLoss(status));
  // Every flow came from a message of at least a header and an nfgenmsg.
  FUZZ_CHECK(flows.size() * (NLMSG_HDRLEN + 4) <= buffer.size());
  for (const Translation& flow : flows) {
    fuzz::CheckTranslation(flow, Translator::kConntrack);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::FuzzConntrackDump(absl::MakeConstSpan(data, size));
  return 0;
}
