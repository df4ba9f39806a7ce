// The floor every netlink dump in agent_bench is compared with: the replies
// received and their messages walked, nothing parsed.
#ifndef GHOSTPEER_BENCH_AGENT_DUMP_FLOOR_H_
#define GHOSTPEER_BENCH_AGENT_DUMP_FLOOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/netlink.h"
#include "agent/netlink_socket.h"

namespace ghostpeer::agent {

// A NetlinkSocket::Dump handler that counts the data messages into
// `*messages` (not reset) and stops at NLMSG_DONE.
inline NetlinkSocket::BufferHandler CountMessages(uint64_t* messages) {
  return [messages](absl::Span<const uint8_t> buffer,
                    const NetlinkExpect& expect, bool* done) {
    NetlinkWalkResult walk;
    absl::Status walked = WalkNetlinkMessages(
        buffer, expect, "floor",
        [messages](const NetlinkMessage&) {
          ++*messages;
          return absl::OkStatus();
        },
        &walk);
    *done = walk.done;
    return walked;
  };
}

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_BENCH_AGENT_DUMP_FLOOR_H_
