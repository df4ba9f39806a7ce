#include "agent/netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace ghostpeer::agent {
namespace {

constexpr size_t kInitialBufferSize = 64 * 1024;

}  // namespace

absl::StatusOr<NetlinkSocket> NetlinkSocket::Open(
    int protocol, absl::Duration receive_timeout) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    return ErrnoToStatus(errno,
                         absl::StrCat("socket(AF_NETLINK, ", protocol, ")"));
  }
  NetlinkSocket result(fd, 0);
  const timeval timeout = absl::ToTimeval(receive_timeout);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
    return ErrnoToStatus(errno, "setsockopt(SO_RCVTIMEO) on a netlink socket");
  }
  // Bind with port id 0 so the kernel assigns a unique one we can read back
  // and match replies against.
  sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoToStatus(errno, "bind() of a netlink socket");
  }
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    return ErrnoToStatus(errno, "getsockname() of a netlink socket");
  }
  result.port_id_ = local.nl_pid;
  return result;
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      port_id_(other.port_id_),
      seq_(other.seq_),
      buffer_(std::move(other.buffer_)) {}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    port_id_ = other.port_id_;
    seq_ = other.seq_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

NetlinkSocket::~NetlinkSocket() { Close(); }

void NetlinkSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status NetlinkSocket::Dump(absl::Span<const uint8_t> request,
                                 uint32_t seq, const BufferHandler& handler,
                                 uint64_t max_datagrams) {
  if (fd_ < 0) return absl::FailedPreconditionError("netlink socket is closed");
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd_, request.data(), request.size(), 0,
                  reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoToStatus(errno, "netlink dump request");
  if (static_cast<size_t>(sent) != request.size()) {
    return absl::InternalError("netlink dump request sent partially");
  }
  if (buffer_.size() < kInitialBufferSize) buffer_.resize(kInitialBufferSize);

  const NetlinkExpect expect{seq, port_id_};
  for (uint64_t datagram = 0; datagram < max_datagrams; ++datagram) {
    // Peek at the size first so a datagram larger than the buffer grows it
    // instead of being cut (iproute2 does the same).
    ssize_t size;
    do {
      size = recv(fd_, buffer_.data(), 0, MSG_PEEK | MSG_TRUNC);
    } while (size < 0 && errno == EINTR);
    if (size < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError(
            "netlink dump: no reply within the receive timeout");
      }
      return ErrnoToStatus(errno, "netlink dump recv");
    }
    if (static_cast<size_t>(size) > buffer_.size()) buffer_.resize(size);

    sockaddr_nl sender = {};
    iovec iov = {buffer_.data(), buffer_.size()};
    msghdr msg = {};
    msg.msg_name = &sender;
    msg.msg_namelen = sizeof(sender);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t received;
    do {
      received = recvmsg(fd_, &msg, 0);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return ErrnoToStatus(errno, "netlink dump recvmsg");
    if (msg.msg_flags & MSG_TRUNC) {
      return absl::DataLossError("netlink dump: datagram truncated");
    }
    if (sender.nl_pid != 0) continue;  // not from the kernel: ignore
    bool done = false;
    absl::Status status = handler(
        absl::MakeConstSpan(buffer_.data(), static_cast<size_t>(received)),
        expect, &done);
    if (!status.ok() || done) return status;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "netlink dump: no NLMSG_DONE after ", max_datagrams, " datagrams"));
}

namespace {

// One sock_diag dump, restarted while the kernel flags it interrupted.
// `build` makes the request for a sequence number.
absl::Status DumpInetSockets(
    NetlinkSocket& socket, v1::Protocol protocol,
    const std::function<std::vector<uint8_t>(uint32_t seq)>& build,
    SockDiagParseResult* result, int max_attempts) {
  for (int attempt = 1;; ++attempt) {
    *result = SockDiagParseResult();
    const uint32_t seq = socket.NextSeq();
    const std::vector<uint8_t> request = build(seq);
    absl::Status status = socket.Dump(
        request, seq,
        [result, protocol](absl::Span<const uint8_t> buffer,
                           const NetlinkExpect& expect, bool* done) {
          absl::Status parsed =
              ParseSockDiagMessagesInto(buffer, expect, result, protocol);
          *done = result->done;
          return parsed;
        });
    if (!status.ok()) return status;
    if (!result->dump_interrupted || attempt >= max_attempts) {
      return absl::OkStatus();
    }
  }
}

}  // namespace

absl::Status DumpTcpSockets(NetlinkSocket& socket, DiagFamily family,
                            SockDiagParseResult* result, int max_attempts) {
  return DumpInetSockets(
      socket, v1::PROTOCOL_TCP,
      [family](uint32_t seq) { return BuildTcpDumpRequest(family, seq); },
      result, max_attempts);
}

absl::Status DumpUdpSockets(NetlinkSocket& socket, DiagFamily family,
                            SockDiagParseResult* result, int max_attempts) {
  return DumpInetSockets(
      socket, v1::PROTOCOL_UDP,
      [family](uint32_t seq) { return BuildUdpDumpRequest(family, seq); },
      result, max_attempts);
}

absl::StatusOr<RtnetlinkDump> DumpInterfaceAddresses(NetlinkSocket& socket,
                                                     int max_attempts) {
  for (int attempt = 1;; ++attempt) {
    RtnetlinkDump dump;
    const auto handler = [&dump](absl::Span<const uint8_t> buffer,
                                 const NetlinkExpect& expect, bool* done) {
      absl::Status status = ParseRtnetlinkMessagesInto(buffer, expect, &dump);
      *done = dump.done;
      return status;
    };
    // Links first (names for the addresses' interface indexes), then
    // addresses.
    uint32_t seq = socket.NextSeq();
    absl::Status status = socket.Dump(BuildGetLinkRequest(seq), seq, handler);
    if (!status.ok()) return status;
    dump.done = false;
    seq = socket.NextSeq();
    status = socket.Dump(BuildGetAddressRequest(seq), seq, handler);
    if (!status.ok()) return status;
    if (!dump.dump_interrupted || attempt >= max_attempts) return dump;
  }
}

}  // namespace ghostpeer::agent
