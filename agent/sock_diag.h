// NETLINK_SOCK_DIAG for TCP and connected UDP: building dump requests and
// parsing the replies into SocketRecords. Pure: bytes in, records out, no
// socket I/O (that is sock_diag_linux.h). Thread-safe (no shared state).
#ifndef GHOSTPEER_AGENT_SOCK_DIAG_H_
#define GHOSTPEER_AGENT_SOCK_DIAG_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/netlink.h"
#include "ghostpeer/v1/model.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace ghostpeer::agent {

// Every real TCP state, ESTABLISHED (1) to NEW_SYN_RECV (12). Not ~0: bit 13
// (TCP_BOUND_INACTIVE) makes the kernel walk the bind hash as well, which
// costs 1-2 ms per namespace on a busy host (docs/linux-docker.md).
inline constexpr uint32_t kAllTcpStates = 0x1FFE;

// idiag_ext bits: 1 << (INET_DIAG_<attr> - 1). INFO is struct tcp_info;
// SHUTDOWN tells whether the peer's FIN arrived (it is also sent unasked by
// current kernels, but older ones need the bit).
inline constexpr uint8_t kDiagExtInfo = 1 << (2 - 1);
inline constexpr uint8_t kDiagExtShutdown = 1 << (8 - 1);
inline constexpr uint8_t kDefaultDiagExtensions =
    kDiagExtInfo | kDiagExtShutdown;

enum class DiagFamily {
  // IPv4 and IPv6 in ONE walk of the kernel's socket hash, through the
  // TCPDIAG_GETSOCK request (struct inet_diag_req, what `ss` sends when no
  // family is chosen). Each dump walks the host's whole established hash
  // whatever the namespace, so one walk instead of two halves the
  // per-namespace cost.
  kAll,
  kIpv4,  // SOCK_DIAG_BY_FAMILY + inet_diag_req_v2, AF_INET
  kIpv6,  // SOCK_DIAG_BY_FAMILY + inet_diag_req_v2, AF_INET6
};

// Builds the complete netlink message (header + request) asking for a dump of
// the TCP sockets in `states` (a mask of 1 << state) with the `extensions`
// attributes. `seq` is echoed in the replies and checked by the parser.
std::vector<uint8_t> BuildTcpDumpRequest(
    DiagFamily family, uint32_t seq, uint32_t states = kAllTcpStates,
    uint8_t extensions = kDefaultDiagExtensions);

// What one or more receive buffers of a dump held.
struct SockDiagParseResult {
  google::protobuf::RepeatedPtrField<v1::SocketRecord> records;
  bool done = false;              // NLMSG_DONE seen: the dump is complete
  bool dump_interrupted = false;  // NLM_F_DUMP_INTR: the socket table changed
                                  // mid-dump; records may be missing or doubled
  uint32_t foreign_messages = 0;  // replies to another request, ignored
  uint32_t malformed_records = 0;  // inet_diag_msg too short or unknown type,
                                   // skipped
  uint32_t malformed_attributes = 0;  // records kept, attributes cut short
  uint32_t unconnected_skipped = 0;   // UDP without a peer address and port
};

// The state a connected UDP socket has: connect() sets sk_state to
// TCP_ESTABLISHED, an unconnected (or disconnected) one is TCP_CLOSE (7). The
// kernel filters UDP dumps by idiag_states like TCP ones (udp_diag.c), so
// asking for this bit alone leaves a DNS server's listening socket and every
// sendto()-only socket out of the dump.
inline constexpr uint32_t kConnectedUdpStates = 1 << 1;

// Builds the complete netlink message asking for a dump of the CONNECTED UDP
// sockets of one address family: SOCK_DIAG_BY_FAMILY + inet_diag_req_v2 with
// IPPROTO_UDP, kConnectedUdpStates and no extensions (UDP has no tcp_info).
// The kernel has no single-walk request for UDP (TCPDIAG_GETSOCK is TCP
// only), so `family` must be kIpv4 or kIpv6; kAll is a programming error and
// aborts.
std::vector<uint8_t> BuildUdpDumpRequest(DiagFamily family, uint32_t seq);

// Parses one receive buffer of sock_diag replies (a sequence of nlmsghdr's)
// and APPENDS to `result`, so a dump's buffers can be fed one after another
// until `result->done`. Each record gets the 4-tuple (IPv4-mapped IPv6 as
// IPv4), state, queues, inode, uid, cookie, timer, peer_closed (from
// INET_DIAG_SHUTDOWN bit 0), tcp_info (copied as min(length, sizeof) and
// zero-filled, so shorter or longer kernel structs both work) and
// source = CAPTURE_SOURCE_SOCK_DIAG; node and netns_inode are the caller's.
// Unknown attributes are skipped; a record too short to hold inet_diag_msg is
// skipped and counted. Errors: DataLoss when the message framing is broken,
// the kernel's errno (via ErrnoToStatus) for NLMSG_ERROR; records parsed
// before the error stay in `result`.
//
// The replies do not say which protocol they describe: `protocol` is the one
// the request asked for, and is set on every record. For PROTOCOL_UDP the
// records are connected sockets: state ESTABLISHED (the kernel's sk_state),
// no tcp_info and never peer_closed (UDP has no FIN); a record in another
// state, without a remote port or with a wildcard remote address is skipped
// and counted in unconnected_skipped. Their queues
// are memory, not payload bytes: recv_queue is the receive buffer's
// allocation (sk_rmem_alloc, datagrams not yet read, counted with their
// overhead) and send_queue is sk_wmem_alloc, the datagrams handed to the
// kernel that it has not freed yet (in a qdisc, a device queue, or an
// unresolved neighbour's queue while ARP/ND waits for a peer that may be
// gone). It is usually 0 for a healthy socket.
absl::Status ParseSockDiagMessagesInto(
    absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
    SockDiagParseResult* result, v1::Protocol protocol = v1::PROTOCOL_TCP);

// The same for a single buffer, returning a fresh result.
absl::StatusOr<SockDiagParseResult> ParseSockDiagMessages(
    absl::Span<const uint8_t> buffer, const NetlinkExpect& expect = {},
    v1::Protocol protocol = v1::PROTOCOL_TCP);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_SOCK_DIAG_H_
