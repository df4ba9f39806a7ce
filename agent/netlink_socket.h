// A netlink socket and the dump loop every netlink reader needs (modelled on
// iproute2's rtnl_dump_filter: size each datagram with MSG_PEEK|MSG_TRUNC,
// check sender, sequence number and port id, read until NLMSG_DONE).
#ifndef GHOSTPEER_AGENT_NETLINK_SOCKET_H_
#define GHOSTPEER_AGENT_NETLINK_SOCKET_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/netlink.h"
#include "agent/rtnetlink.h"
#include "agent/sock_diag.h"

namespace ghostpeer::agent {

// Owns one netlink socket fd. Movable, not copyable. A netlink socket reports
// on the network namespace it was CREATED in, whichever thread later uses it
// (so it can be created by the NamespaceWorker and used anywhere). Not
// thread-safe: one dump at a time.
class NetlinkSocket {
 public:
  // Creates and binds a socket of `protocol` (NETLINK_SOCK_DIAG,
  // NETLINK_ROUTE) in the calling thread's network namespace. Replies that
  // take longer than `receive_timeout` fail the dump with DeadlineExceeded.
  // Errors: the errno of socket()/bind() via ErrnoToStatus (PermissionDenied
  // for EPERM/EACCES, Unimplemented for EPROTONOSUPPORT).
  static absl::StatusOr<NetlinkSocket> Open(
      int protocol, absl::Duration receive_timeout = absl::Seconds(5));

  NetlinkSocket() = default;
  NetlinkSocket(NetlinkSocket&& other) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket();

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  uint32_t port_id() const { return port_id_; }

  // A fresh sequence number for the next request.
  uint32_t NextSeq() { return ++seq_; }

  // Handles one received buffer; sets *done once NLMSG_DONE was parsed.
  using BufferHandler =
      std::function<absl::Status(absl::Span<const uint8_t> buffer,
                                 const NetlinkExpect& expect, bool* done)>;

  // Sends `request` (a complete netlink message whose sequence number is
  // `seq`) and feeds every reply datagram to `handler` until it reports done.
  // The receive buffer starts at 64 KiB (the kernel caps dump datagrams at
  // 32 KiB) and grows when a peek says a datagram is larger. Bounded: fails
  // with ResourceExhausted after `max_datagrams`. Errors: the send/recv
  // errno, DeadlineExceeded on the receive timeout, DataLoss if a datagram
  // was truncated, or whatever `handler` returns.
  absl::Status Dump(absl::Span<const uint8_t> request, uint32_t seq,
                    const BufferHandler& handler,
                    uint64_t max_datagrams = uint64_t{1} << 22);

 private:
  explicit NetlinkSocket(int fd, uint32_t port_id)
      : fd_(fd), port_id_(port_id) {}
  void Close();

  int fd_ = -1;
  uint32_t port_id_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buffer_;
};

// Dumps the TCP sockets of `socket`'s namespace (a NETLINK_SOCK_DIAG socket)
// into `result`, which is cleared first. A dump the kernel flags as
// interrupted (NLM_F_DUMP_INTR: the table changed under it) is restarted up
// to `max_attempts` times in all; after that the last result is kept with
// result->dump_interrupted set. Errors as NetlinkSocket::Dump and the parser.
absl::Status DumpTcpSockets(NetlinkSocket& socket, DiagFamily family,
                            SockDiagParseResult* result, int max_attempts = 3);

// The same for the CONNECTED UDP sockets of one family (kIpv4 or kIpv6; see
// BuildUdpDumpRequest). Errors as DumpTcpSockets; NotFound (ENOENT) when the
// kernel has no UDP sock_diag handler (udp_diag not built or not loadable).
absl::Status DumpUdpSockets(NetlinkSocket& socket, DiagFamily family,
                            SockDiagParseResult* result, int max_attempts = 3);

// Dumps links and addresses of `socket`'s namespace (a NETLINK_ROUTE socket).
// Interrupted dumps (interfaces or addresses changed under them) restart as
// DumpTcpSockets's do; after `max_attempts` the last is kept with
// dump_interrupted set: a list that may lack addresses.
absl::StatusOr<RtnetlinkDump> DumpInterfaceAddresses(NetlinkSocket& socket,
                                                     int max_attempts = 3);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_NETLINK_SOCKET_H_
