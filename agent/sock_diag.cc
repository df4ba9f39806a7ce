#include "agent/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent/inet_address.h"
#include "agent/netlink.h"

namespace ghostpeer::agent {
namespace {

constexpr uint8_t kShutdownReceive = 1;  // RCV_SHUTDOWN: the peer's FIN

uint16_t NetToHost16(__be16 value) { return ntohs(value); }

void FillTcpInfo(absl::Span<const uint8_t> payload, v1::TcpInfo* out) {
  // The kernel's struct grows over time (232 bytes in Debian 12's header, 280
  // from kernel 6.18); old kernels send less. Fields we do not receive stay 0.
  tcp_info info;
  std::memset(&info, 0, sizeof(info));
  std::memcpy(&info, payload.data(), std::min(payload.size(), sizeof(info)));
  out->set_retransmits(info.tcpi_retransmits);
  out->set_backoff(info.tcpi_backoff);
  out->set_unacked(info.tcpi_unacked);
  out->set_total_retrans(info.tcpi_total_retrans);
  out->set_last_data_recv_ms(info.tcpi_last_data_recv);
  out->set_last_ack_recv_ms(info.tcpi_last_ack_recv);
  out->set_last_data_sent_ms(info.tcpi_last_data_sent);
  out->set_rto_us(info.tcpi_rto);
  out->set_notsent_bytes(info.tcpi_notsent_bytes);
  out->set_bytes_acked(info.tcpi_bytes_acked);
  out->set_bytes_sent(info.tcpi_bytes_sent);
  out->set_bytes_received(info.tcpi_bytes_received);
  out->set_lost(info.tcpi_lost);
  out->set_probes(info.tcpi_probes);
  out->set_snd_cwnd(info.tcpi_snd_cwnd);
  out->set_rtt_us(info.tcpi_rtt);
}

// Connected to a peer a datagram can actually go to. The kernel filtered
// on the state already; connect() to port 0 still leaves a socket
// "connected" to nothing.
bool IsConnectedUdp(const v1::SocketRecord& record) {
  return record.state() == v1::TCP_STATE_ESTABLISHED &&
         record.remote_port() != 0 && record.remote_ip() != "0.0.0.0" &&
         record.remote_ip() != "::";
}

absl::Status ParseOne(const NetlinkMessage& message, v1::Protocol protocol,
                      SockDiagParseResult* result) {
  if ((message.type != SOCK_DIAG_BY_FAMILY &&
       message.type != TCPDIAG_GETSOCK) ||
      message.payload.size() < sizeof(inet_diag_msg)) {
    ++result->malformed_records;
    return absl::OkStatus();
  }
  inet_diag_msg msg;
  std::memcpy(&msg, message.payload.data(), sizeof(msg));
  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    ++result->malformed_records;
    return absl::OkStatus();
  }
  v1::SocketRecord* record = result->records.Add();
  const size_t address_size = msg.idiag_family == AF_INET ? 4 : 16;
  record->set_local_ip(FormatInetAddress(
      msg.idiag_family,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(msg.id.idiag_src),
                          address_size)));
  record->set_remote_ip(FormatInetAddress(
      msg.idiag_family,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(msg.id.idiag_dst),
                          address_size)));
  record->set_local_port(NetToHost16(msg.id.idiag_sport));
  record->set_remote_port(NetToHost16(msg.id.idiag_dport));
  // The proto's TcpState numbers are the kernel's; anything else (a future
  // state) is kept as UNSPECIFIED rather than an invalid enum value.
  if (v1::TcpState_IsValid(msg.idiag_state)) {
    record->set_state(static_cast<v1::TcpState>(msg.idiag_state));
  }
  record->set_send_queue(msg.idiag_wqueue);
  record->set_recv_queue(msg.idiag_rqueue);
  record->set_inode(msg.idiag_inode);
  record->set_uid(msg.idiag_uid);
  record->set_cookie(static_cast<uint64_t>(msg.id.idiag_cookie[1]) << 32 |
                     msg.id.idiag_cookie[0]);
  record->set_timer(msg.idiag_timer);
  record->set_timer_expires_ms(msg.idiag_expires);
  record->set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
  record->set_protocol(protocol);
  if (protocol == v1::PROTOCOL_UDP) {
    // Nothing in the attributes applies: no tcp_info, and sk_shutdown is
    // this end's shutdown() calls, not a peer's FIN.
    if (!IsConnectedUdp(*record)) {
      result->records.RemoveLast();
      ++result->unconnected_skipped;
    }
    return absl::OkStatus();
  }

  const auto attributes =
      message.payload.subspan(NLMSG_ALIGN(sizeof(inet_diag_msg)));
  const bool well_formed = WalkAttributes(
      attributes, [record](uint16_t type, absl::Span<const uint8_t> payload) {
        switch (type) {
          case INET_DIAG_INFO:
            if (!payload.empty())
              FillTcpInfo(payload, record->mutable_tcp_info());
            break;
          case INET_DIAG_SHUTDOWN:
            if (!payload.empty()) {
              record->set_peer_closed((payload[0] & kShutdownReceive) != 0);
            }
            break;
          default:
            break;  // attributes we did not ask for, or newer than us
        }
      });
  if (!well_formed) ++result->malformed_attributes;
  return absl::OkStatus();
}

}  // namespace

std::vector<uint8_t> BuildTcpDumpRequest(DiagFamily family, uint32_t seq,
                                         uint32_t states, uint8_t extensions) {
  nlmsghdr header;
  std::memset(&header, 0, sizeof(header));
  header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  header.nlmsg_seq = seq;
  std::vector<uint8_t> message;
  if (family == DiagFamily::kAll) {
    inet_diag_req request;
    std::memset(&request, 0, sizeof(request));
    request.idiag_family = AF_UNSPEC;
    request.idiag_ext = extensions;
    request.idiag_states = states;
    header.nlmsg_type = TCPDIAG_GETSOCK;
    header.nlmsg_len = NLMSG_LENGTH(sizeof(request));
    message.resize(header.nlmsg_len);
    std::memcpy(message.data() + NLMSG_HDRLEN, &request, sizeof(request));
  } else {
    inet_diag_req_v2 request;
    std::memset(&request, 0, sizeof(request));
    request.sdiag_family = family == DiagFamily::kIpv4 ? AF_INET : AF_INET6;
    request.sdiag_protocol = IPPROTO_TCP;
    request.idiag_ext = extensions;
    request.idiag_states = states;
    header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    header.nlmsg_len = NLMSG_LENGTH(sizeof(request));
    message.resize(header.nlmsg_len);
    std::memcpy(message.data() + NLMSG_HDRLEN, &request, sizeof(request));
  }
  std::memcpy(message.data(), &header, sizeof(header));
  return message;
}

std::vector<uint8_t> BuildUdpDumpRequest(DiagFamily family, uint32_t seq) {
  if (family == DiagFamily::kAll) {
    std::fprintf(stderr, "BuildUdpDumpRequest: no single-walk UDP dump\n");
    std::abort();
  }
  inet_diag_req_v2 request;
  std::memset(&request, 0, sizeof(request));
  request.sdiag_family = family == DiagFamily::kIpv4 ? AF_INET : AF_INET6;
  request.sdiag_protocol = IPPROTO_UDP;
  request.idiag_states = kConnectedUdpStates;
  return BuildNetlinkDumpRequest(SOCK_DIAG_BY_FAMILY, seq, request);
}

absl::Status ParseSockDiagMessagesInto(absl::Span<const uint8_t> buffer,
                                       const NetlinkExpect& expect,
                                       SockDiagParseResult* result,
                                       v1::Protocol protocol) {
  NetlinkWalkResult walk;
  absl::Status status = WalkNetlinkMessages(
      buffer, expect, "sock_diag dump",
      [result, protocol](const NetlinkMessage& message) {
        return ParseOne(message, protocol, result);
      },
      &walk);
  result->done = result->done || walk.done;
  result->dump_interrupted = result->dump_interrupted || walk.dump_interrupted;
  result->foreign_messages += walk.foreign_messages;
  return status;
}

absl::StatusOr<SockDiagParseResult> ParseSockDiagMessages(
    absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
    v1::Protocol protocol) {
  SockDiagParseResult result;
  absl::Status status =
      ParseSockDiagMessagesInto(buffer, expect, &result, protocol);
  if (!status.ok()) return status;
  return result;
}

}  // namespace ghostpeer::agent
