// sock_diag dump replies: the kernel writes them, but their records describe
// sockets that any process on the node opens, and a framing bug here reads
// past a receive buffer. Input: one receive buffer of nlmsghdr's, parsed as
// a TCP and as a UDP dump.
#include <linux/inet_diag.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "agent/sock_diag.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzSockDiag(absl::Span<const uint8_t> buffer, v1::Protocol protocol) {
  SockDiagParseResult result;
  // Errors (broken framing, NLMSG_ERROR) are expected answers to garbage;
  // what was parsed before them must still be sane.
  ParseSockDiagMessagesInto(buffer, NetlinkExpect{}, &result, protocol)
      .IgnoreError();
  // Every record needs its own header and inet_diag_msg.
  FUZZ_CHECK(static_cast<size_t>(result.records.size()) *
                 (NLMSG_HDRLEN + sizeof(inet_diag_msg)) <=
             buffer.size());
  for (const v1::SocketRecord& record : result.records) {
    fuzz::CheckSocketRecord(record, v1::CAPTURE_SOURCE_SOCK_DIAG);
    FUZZ_CHECK(record.protocol() == protocol);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The replies do not name their protocol: the same bytes as an answer to
  // the TCP and to the UDP request.
  for (const auto protocol :
       {ghostpeer::v1::PROTOCOL_TCP, ghostpeer::v1::PROTOCOL_UDP}) {
    ghostpeer::agent::FuzzSockDiag(absl::MakeConstSpan(data, size), protocol);
  }
  return 0;
}
