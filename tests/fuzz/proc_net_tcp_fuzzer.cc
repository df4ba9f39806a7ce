// /proc/<pid>/net/tcp, tcp6, udp and udp6, the fallback where netlink is
// refused: read through a process of the node, so a namespace the agent does
// not control decides what the file holds. Input: the file's content, parsed
// as each of the four files.
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/proc_net_tcp.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzProcNetTcp(absl::string_view content, int family) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetTcp(content, family);
  FUZZ_CHECK(result.ok());  // only an unknown family is an error
  // One record per line at most, and the header line is not a record.
  const size_t lines =
      static_cast<size_t>(std::count(content.begin(), content.end(), '\n') + 1);
  FUZZ_CHECK(result->records.size() + result->malformed_lines <= lines);
  for (const v1::SocketRecord& record : result->records) {
    fuzz::CheckSocketRecord(record, v1::CAPTURE_SOURCE_PROC_NET_TCP);
    FUZZ_CHECK(record.protocol() == v1::PROTOCOL_TCP);
  }
}

void FuzzProcNetUdp(absl::string_view content, int family) {
  absl::StatusOr<ProcNetTcpResult> result = ParseProcNetUdp(content, family);
  FUZZ_CHECK(result.ok());
  const size_t lines =
      static_cast<size_t>(std::count(content.begin(), content.end(), '\n') + 1);
  FUZZ_CHECK(result->records.size() + result->malformed_lines +
                 result->unconnected_skipped <=
             lines);
  for (const v1::SocketRecord& record : result->records) {
    fuzz::CheckSocketRecord(record, v1::CAPTURE_SOURCE_PROC_NET_TCP);
    FUZZ_CHECK(record.protocol() == v1::PROTOCOL_UDP);
    FUZZ_CHECK(record.state() == v1::TCP_STATE_ESTABLISHED);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view content(reinterpret_cast<const char*>(data), size);
  ghostpeer::agent::FuzzProcNetTcp(content, AF_INET);
  ghostpeer::agent::FuzzProcNetTcp(content, AF_INET6);
  ghostpeer::agent::FuzzProcNetUdp(content, AF_INET);
  ghostpeer::agent::FuzzProcNetUdp(content, AF_INET6);
  return 0;
}
