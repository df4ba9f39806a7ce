// Defensive walking of netlink message streams and attribute lists. Pure:
// the functions take bytes and never touch a socket, so every malformed
// shape can be unit-tested. Thread-safe (no shared state).
#ifndef GHOSTPEER_AGENT_NETLINK_H_
#define GHOSTPEER_AGENT_NETLINK_H_

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ghostpeer::agent {

// Which replies belong to our request. Zero fields are not checked (the
// kernel stamps replies with the requester's port id and sequence number).
struct NetlinkExpect {
  uint32_t seq = 0;
  uint32_t port_id = 0;
};

// One netlink message inside a receive buffer; `payload` points into it.
struct NetlinkMessage {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t port_id = 0;
  absl::Span<const uint8_t> payload;
};

// What a walk over one receive buffer found besides the payload messages.
struct NetlinkWalkResult {
  bool done = false;              // NLMSG_DONE seen: the dump is complete
  bool dump_interrupted = false;  // NLM_F_DUMP_INTR on some message
  uint32_t foreign_messages = 0;  // wrong seq/port id: ignored
};

// Walks the nlmsghdr's in `buffer` and calls `on_message` for each data
// message that matches `expect` (NLMSG_NOOP and foreign messages skipped).
// Stops at NLMSG_DONE. Returns:
//  - DataLoss when a header's length is impossible (shorter than a header or
//    past the end of the buffer): the stream's framing is lost;
//  - the errno of an NLMSG_ERROR (or of a negative NLMSG_DONE payload), via
//    ErrnoToStatus with `context`; an NLMSG_ERROR carrying 0 (an ack) is
//    skipped; DataLoss for a code that is no errno (positive, or below
//    -MAX_ERRNO);
//  - the first non-OK status returned by `on_message`.
absl::Status WalkNetlinkMessages(
    absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
    const char* context,
    const std::function<absl::Status(const NetlinkMessage&)>& on_message,
    NetlinkWalkResult* result);

// Calls `on_attribute(type, payload)` for each rtattr/nlattr in `attributes`
// (the nested/byte-order flag bits of the type are cleared). A header with an
// impossible length ends the walk early: the attributes before it are kept,
// and the function returns false to say the list was malformed.
bool WalkAttributes(
    absl::Span<const uint8_t> attributes,
    const std::function<void(uint16_t type, absl::Span<const uint8_t> payload)>&
        on_attribute);

// A complete request: a header of `type` with `flags` and `seq`, followed
// by `request` (the family's fixed header, e.g. ifaddrmsg, nfgenmsg or
// inet_diag_req_v2), which must be trivially copyable.
template <typename Request>
std::vector<uint8_t> BuildNetlinkRequest(uint16_t type, uint16_t flags,
                                         uint32_t seq, const Request& request) {
  nlmsghdr header;
  std::memset(&header, 0, sizeof(header));
  header.nlmsg_len = NLMSG_LENGTH(sizeof(Request));
  header.nlmsg_type = type;
  header.nlmsg_flags = flags;
  header.nlmsg_seq = seq;
  std::vector<uint8_t> message(header.nlmsg_len);
  std::memcpy(message.data(), &header, sizeof(header));
  std::memcpy(message.data() + NLMSG_HDRLEN, &request, sizeof(request));
  return message;
}

// A dump request: BuildNetlinkRequest with NLM_F_REQUEST|NLM_F_DUMP.
template <typename Request>
std::vector<uint8_t> BuildNetlinkDumpRequest(uint16_t type, uint32_t seq,
                                             const Request& request) {
  return BuildNetlinkRequest(type, NLM_F_REQUEST | NLM_F_DUMP, seq, request);
}

// Rounds `length` up to the 4-byte netlink alignment.
constexpr size_t NetlinkAlign(size_t length) {
  return (length + 3) & ~size_t{3};
}

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_NETLINK_H_
