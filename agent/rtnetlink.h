// rtnetlink address and link dumps: requests and defensive parsing of the
// replies, and the choice of which addresses count as a namespace's
// observable addresses. Pure, thread-safe; I/O is in netlink_socket.h.
#ifndef GHOSTPEER_AGENT_RTNETLINK_H_
#define GHOSTPEER_AGENT_RTNETLINK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "agent/netlink.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

// One RTM_NEWADDR reply.
struct RawInterfaceAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::string
      address;  // IFA_LOCAL if present (point-to-point), else IFA_ADDRESS
  uint32_t prefix_len = 0;
  uint32_t ifindex = 0;
  std::string label;  // IFA_LABEL (IPv4 only), may be empty
};

// One RTM_NEWLINK reply.
struct RawLink {
  uint32_t ifindex = 0;
  std::string name;    // IFLA_IFNAME
  uint32_t flags = 0;  // IFF_*
};

struct RtnetlinkDump {
  std::vector<RawInterfaceAddress> addresses;
  std::vector<RawLink> links;
  bool done = false;
  bool dump_interrupted = false;
  uint32_t malformed = 0;  // messages skipped
};

// RTM_GETADDR (all families) / RTM_GETLINK dump requests.
std::vector<uint8_t> BuildGetAddressRequest(uint32_t seq);
std::vector<uint8_t> BuildGetLinkRequest(uint32_t seq);

// Parses one receive buffer of RTM_NEWADDR / RTM_NEWLINK replies and appends
// to `dump`. Same error contract as WalkNetlinkMessages (DataLoss on broken
// framing, the errno of NLMSG_ERROR); malformed messages are skipped.
absl::Status ParseRtnetlinkMessagesInto(absl::Span<const uint8_t> buffer,
                                        const NetlinkExpect& expect,
                                        RtnetlinkDump* dump);

// The addresses a namespace can be reached at: everything but loopback (the
// `lo` interface or any IFF_LOOPBACK link, 127.0.0.0/8, ::1) and IPv6
// link-local fe80::/10, with the interface named from `links` (falling back
// to the IPv4 label, then "if<index>"). Sorted by interface then address.
std::vector<v1::InterfaceAddress> ObservableAddresses(
    const RtnetlinkDump& dump);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_RTNETLINK_H_
