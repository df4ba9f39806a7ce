// /proc/<pid>/net/tcp, tcp6, udp and udp6: the fallback where netlink is
// refused. Pure: file content in, records out. Thread-safe.
#ifndef GHOSTPEER_AGENT_PROC_NET_TCP_H_
#define GHOSTPEER_AGENT_PROC_NET_TCP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

struct ProcNetTcpResult {
  std::vector<v1::SocketRecord> records;
  uint32_t malformed_lines = 0;      // skipped
  uint32_t unconnected_skipped = 0;  // UDP lines without a peer, skipped
};

// Parses the content of /proc/<pid>/net/tcp (`family` AF_INET) or tcp6
// (AF_INET6); records have protocol TCP. The file prints addresses as the
// kernel's raw 32-bit words in host byte order, so this must run on the machine
// (endianness) that wrote it. Each record has source =
// CAPTURE_SOURCE_PROC_NET_TCP, the 4-tuple (IPv4-mapped IPv6 shown as IPv4),
// state, queues, uid, inode, timer and its expiry, and peer_closed derived from
// the state (CLOSE_WAIT, LAST_ACK, CLOSING and TIME_WAIT are only reached after
// the peer's FIN). The file has no cookie and no tcp_info: tcp_info carries
// only what the line has (retransmits, probes, rto_us, snd_cwnd); backoff,
// unacked, notsent and the last_* ages stay 0. Lines that do not parse are
// skipped and counted. InvalidArgument if `family` is neither AF_INET nor
// AF_INET6.
absl::StatusOr<ProcNetTcpResult> ParseProcNetTcp(absl::string_view content,
                                                 int family);

// Parses /proc/<pid>/net/udp (`family` AF_INET) or udp6 (AF_INET6), the same
// line format up to the inode (then ref, pointer, drops), keeping only the
// CONNECTED sockets: state 01 (connect() sets sk_state to ESTABLISHED; an
// unconnected socket is 07) with a remote port and a non-wildcard remote
// address; the others are counted in unconnected_skipped. Records have
// protocol UDP, state ESTABLISHED, source CAPTURE_SOURCE_PROC_NET_TCP, the
// 4-tuple, uid, inode, and tx_queue/rx_queue as send_queue/recv_queue: the
// kernel's sk_wmem_alloc and receive memory, bytes of buffers with their
// overhead, not payload (see ParseSockDiagMessagesInto). No tcp_info, no
// timer, never peer_closed. Lines that do not parse are counted as
// malformed. InvalidArgument for a family other than AF_INET/AF_INET6.
absl::StatusOr<ProcNetTcpResult> ParseProcNetUdp(absl::string_view content,
                                                 int family);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_PROC_NET_TCP_H_
