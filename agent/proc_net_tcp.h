// /proc/<pid>/net/tcp and tcp6: the fallback where netlink is refused. Pure:
// file content in, records out. Thread-safe.
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
  uint32_t malformed_lines = 0;  // skipped
};

// Parses the content of /proc/<pid>/net/tcp (`family` AF_INET) or tcp6
// (AF_INET6). The file prints addresses as the kernel's raw 32-bit words in
// host byte order, so this must run on the machine (endianness) that wrote
// it. Each record has source = CAPTURE_SOURCE_PROC_NET_TCP, the 4-tuple
// (IPv4-mapped IPv6 shown as IPv4), state, queues, uid, inode, timer and
// its expiry, and peer_closed derived from the state (CLOSE_WAIT, LAST_ACK,
// CLOSING and TIME_WAIT are only reached after the peer's FIN). The file has
// no cookie and no tcp_info: tcp_info carries only what the line has
// (retransmits, probes, rto_us, snd_cwnd); backoff, unacked, notsent and the
// last_* ages stay 0. Lines that do not parse are skipped and counted.
// InvalidArgument if `family` is neither AF_INET nor AF_INET6.
absl::StatusOr<ProcNetTcpResult> ParseProcNetTcp(absl::string_view content,
                                                 int family);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_PROC_NET_TCP_H_
