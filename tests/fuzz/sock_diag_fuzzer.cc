// sock_diag dump replies: the kernel writes them, but their records describe
// sockets that any process on the node opens, and a framing bug here reads
// past a receive buffer. Input: one receive buffer of nlmsghdr's.
#include <linux/inet_diag.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "agent/sock_diag.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzSockDiag(absl::Span<const uint8_t> buffer) {
  SockDiagParseResult result;
  // Errors (broken framing, NLMSG_ERROR) are expected answers to garbage;
  // what was parsed before them must still be sane.
  ParseSockDiagMessagesInto(buffer, NetlinkExpect{}, &result).IgnoreError();
  // Every record needs its own header and inet_diag_msg.
  FUZZ_CHECK(static_cast<size_t>(result.records.size()) *
                 (NLMSG_HDRLEN + sizeof(inet_diag_msg)) <=
             buffer.size());
  for (const v1::SocketRecord& record : result.records) {
    fuzz::CheckSocketRecord(record, v1::CAPTURE_SOURCE_SOCK_DIAG);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::FuzzSockDiag(absl::MakeConstSpan(data, size));
  return 0;
}
