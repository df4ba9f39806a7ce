// Records the raw reply datagrams of one ctnetlink conntrack dump of the
// calling process's network namespace, verbatim, for the parser golden tests
// (tests/testdata/agent/conntrack_*.nlbin). Run it inside a throwaway
// namespace: tests/support/record_conntrack_golden.sh builds one with real
// DNAT'ed flows and calls
//   record_conntrack_golden <output file>
// The datagrams are written as received, also when the kernel answers with
// an error (run without CAP_NET_ADMIN to record the EPERM reply). Exit 0
// when the dump ended in NLMSG_DONE, 1 otherwise.
#include <linux/netlink.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "agent/netlink_socket.h"
#include "agent/translation.h"

int main(int argc, char** argv) {
  using ghostpeer::agent::NetlinkExpect;
  using ghostpeer::agent::NetlinkSocket;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output file>\n", argv[0]);
    return 2;
  }
  absl::StatusOr<NetlinkSocket> socket = NetlinkSocket::Open(NETLINK_NETFILTER);
  if (!socket.ok()) {
    std::fprintf(stderr, "%s\n", socket.status().ToString().c_str());
    return 1;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  std::vector<ghostpeer::agent::Translation> flows;
  const uint32_t seq = socket->NextSeq();
  const absl::Status status =
      socket->Dump(ghostpeer::agent::BuildConntrackDumpRequest(seq), seq,
                   [&](absl::Span<const uint8_t> buffer,
                       const NetlinkExpect& expect, bool* done) {
                     out.write(reinterpret_cast<const char*>(buffer.data()),
                               static_cast<std::streamsize>(buffer.size()));
                     return ghostpeer::agent::ParseConntrackMessagesInto(
                         buffer, expect, &flows, done);
                   });
  out.close();
  std::fprintf(stderr, "%zu NAT flows; %s\n", flows.size(),
               status.ToString().c_str());
  return status.ok() && out ? 0 : 1;
}
