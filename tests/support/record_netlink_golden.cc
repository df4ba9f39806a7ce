// Records raw netlink dump replies for the parser golden tests. Run as root:
//   record_netlink_golden <output dir>
// It unshares a fresh network namespace (nothing it does touches the host's),
// brings up lo and a veth pair (gp0, gp1) with fixed addresses, opens a known
// set of TCP sockets, and writes the kernel's reply datagrams verbatim:
//   tcp_dump.nlbin   sock_diag TCPDIAG_GETSOCK, both families, INFO|SHUTDOWN
//   links.nlbin      RTM_GETLINK
//   addresses.nlbin  RTM_GETADDR
//   udp_dump.nlbin   sock_diag SOCK_DIAG_BY_FAMILY AF_INET, IPPROTO_UDP,
//                    connected states only (what the agent asks)
//   udp6_dump.nlbin  the same for AF_INET6
// Sockets: LISTEN 127.0.0.1:27017 with one ESTABLISHED pair whose server side
// has 5 unread bytes; LISTEN [::1]:27018 with one pair; dual-stack LISTEN
// [::]:27019 reached over IPv4 (an IPv4-mapped pair); and a pair on 27017
// whose server sent FIN (client CLOSE_WAIT, server FIN_WAIT2).
// UDP: a connected pair 127.0.0.1:27030 <-> 127.0.0.1:27031 where :27031
// holds one unread 100-byte datagram; a connected pair [::1]:27032 <->
// [::1]:27033; an IPv6 socket connected to 127.0.0.1:27030 (IPv4-mapped);
// and, which the dumps must NOT hold, an unconnected socket bound to
// 0.0.0.0:27034 with a datagram sent through it by sendto(), and one bound
// to [::]:27035.
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "agent/netlink.h"
#include "agent/netlink_socket.h"
#include "agent/rtnetlink.h"
#include "agent/sock_diag.h"

namespace {

using ghostpeer::agent::NetlinkExpect;
using ghostpeer::agent::NetlinkSocket;

[[noreturn]] void Die(const std::string& what) {
  std::perror(what.c_str());
  std::exit(1);
}

int Listen(int family, const char* ip, uint16_t port) {
  const int fd = socket(family, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage address = {};
  socklen_t length;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    length = sizeof(*in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    length = sizeof(*in6);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(fd, 16) != 0) {
    Die(std::string("listen ") + ip);
  }
  return fd;
}

// Connects to `ip`:`port` and returns {client, accepted server side}.
std::pair<int, int> Connect(int listener, int family, const char* ip,
                            uint16_t port) {
  const int fd = socket(family, SOCK_STREAM, 0);
  sockaddr_storage address = {};
  socklen_t length;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    length = sizeof(*in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    length = sizeof(*in6);
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    Die(std::string("connect ") + ip);
  }
  const int accepted = accept(listener, nullptr, nullptr);
  if (accepted < 0) Die("accept");
  return {fd, accepted};
}

sockaddr_storage Address(int family, const char* ip, uint16_t port,
                         socklen_t* length) {
  sockaddr_storage address = {};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&address);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    *length = sizeof(*in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    *length = sizeof(*in6);
  }
  return address;
}

// A UDP socket of `family` bound to `ip`:`port`.
int BoundUdp(int family, const char* ip, uint16_t port) {
  const int fd = socket(family, SOCK_DGRAM, 0);
  socklen_t length;
  sockaddr_storage address = Address(family, ip, port, &length);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    Die(std::string("udp bind ") + ip);
  }
  return fd;
}

void ConnectUdp(int fd, int family, const char* ip, uint16_t port) {
  socklen_t length;
  sockaddr_storage address = Address(family, ip, port, &length);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    Die(std::string("udp connect ") + ip);
  }
}

void Record(NetlinkSocket& socket, const std::vector<uint8_t>& request,
            uint32_t seq, const std::string& path) {
  std::string bytes;
  absl::Status status =
      socket.Dump(request, seq,
                  [&bytes](absl::Span<const uint8_t> buffer,
                           const NetlinkExpect& expect, bool* done) {
                    bytes.append(reinterpret_cast<const char*>(buffer.data()),
                                 buffer.size());
                    ghostpeer::agent::NetlinkWalkResult walk;
                    absl::Status walked = ghostpeer::agent::WalkNetlinkMessages(
                        buffer, expect, "record",
                        [](const ghostpeer::agent::NetlinkMessage&) {
                          return absl::OkStatus();
                        },
                        &walk);
                    *done = walk.done;
                    return walked;
                  });
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), status.ToString().c_str());
    std::exit(1);
  }
  std::ofstream(path, std::ios::binary) << bytes;
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  if (unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET)");
  const char* setup[] = {"ip link set lo up",
                         "ip link add gp0 type veth peer name gp1",
                         "ip addr add 10.1.2.3/24 dev gp0",
                         "ip addr add fd00:1::3/64 dev gp0 nodad",
                         "ip link set gp0 up",
                         "ip link set gp1 up"};
  for (const char* command : setup) {
    if (std::system(command) != 0) Die(command);  // NOLINT: a recorder tool
  }

  const int v4 = Listen(AF_INET, "127.0.0.1", 27017);
  auto [client4, server4] = Connect(v4, AF_INET, "127.0.0.1", 27017);
  if (write(client4, "hello", 5) != 5) Die("write");
  const int v6 = Listen(AF_INET6, "::1", 27018);
  auto [client6, server6] = Connect(v6, AF_INET6, "::1", 27018);
  const int dual = Listen(AF_INET6, "::", 27019);
  auto [client_mapped, server_mapped] =
      Connect(dual, AF_INET, "127.0.0.1", 27019);
  auto [client_fin, server_fin] = Connect(v4, AF_INET, "127.0.0.1", 27017);
  shutdown(server_fin, SHUT_WR);

  const int udp_a = BoundUdp(AF_INET, "127.0.0.1", 27030);
  const int udp_b = BoundUdp(AF_INET, "127.0.0.1", 27031);
  ConnectUdp(udp_a, AF_INET, "127.0.0.1", 27031);
  ConnectUdp(udp_b, AF_INET, "127.0.0.1", 27030);
  const std::string datagram(100, 'u');
  if (send(udp_a, datagram.data(), datagram.size(), 0) != 100) Die("send");
  const int udp6_a = BoundUdp(AF_INET6, "::1", 27032);
  const int udp6_b = BoundUdp(AF_INET6, "::1", 27033);
  ConnectUdp(udp6_a, AF_INET6, "::1", 27033);
  ConnectUdp(udp6_b, AF_INET6, "::1", 27032);
  const int udp_mapped = socket(AF_INET6, SOCK_DGRAM, 0);
  ConnectUdp(udp_mapped, AF_INET6, "::ffff:127.0.0.1", 27030);
  const int unconnected = BoundUdp(AF_INET, "0.0.0.0", 27034);
  socklen_t length;
  sockaddr_storage to = Address(AF_INET, "127.0.0.1", 27031, &length);
  if (sendto(unconnected, "x", 1, 0, reinterpret_cast<sockaddr*>(&to),
             length) != 1) {
    Die("sendto");
  }
  const int unconnected6 = BoundUdp(AF_INET6, "::", 27035);
  usleep(100 * 1000);  // let the data and the FIN land

  auto diag = NetlinkSocket::Open(NETLINK_SOCK_DIAG);
  auto route = NetlinkSocket::Open(NETLINK_ROUTE);
  if (!diag.ok() || !route.ok()) Die("netlink socket");
  uint32_t seq = diag->NextSeq();
  Record(*diag,
         ghostpeer::agent::BuildTcpDumpRequest(
             ghostpeer::agent::DiagFamily::kAll, seq),
         seq, dir + "/tcp_dump.nlbin");
  seq = route->NextSeq();
  Record(*route, ghostpeer::agent::BuildGetLinkRequest(seq), seq,
         dir + "/links.nlbin");
  seq = route->NextSeq();
  Record(*route, ghostpeer::agent::BuildGetAddressRequest(seq), seq,
         dir + "/addresses.nlbin");
  seq = diag->NextSeq();
  Record(*diag,
         ghostpeer::agent::BuildUdpDumpRequest(
             ghostpeer::agent::DiagFamily::kIpv4, seq),
         seq, dir + "/udp_dump.nlbin");
  seq = diag->NextSeq();
  Record(*diag,
         ghostpeer::agent::BuildUdpDumpRequest(
             ghostpeer::agent::DiagFamily::kIpv6, seq),
         seq, dir + "/udp6_dump.nlbin");
  (void)udp_b, (void)udp6_a, (void)udp6_b, (void)udp_mapped;
  (void)unconnected6;
  (void)client6, (void)server6, (void)client_mapped, (void)server_mapped;
  (void)client4, (void)server4, (void)client_fin;
  return 0;
}
