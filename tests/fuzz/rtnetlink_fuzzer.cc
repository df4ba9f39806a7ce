// rtnetlink address and link dumps: interface names and labels are chosen by
// whoever creates the interface in a namespace (any container with
// CAP_NET_ADMIN over its own namespace). Input: one receive buffer.
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "agent/rtnetlink.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent {
namespace {

void FuzzRtnetlink(absl::Span<const uint8_t> buffer) {
  RtnetlinkDump dump;
  ParseRtnetlinkMessagesInto(buffer, NetlinkExpect{}, &dump).IgnoreError();
  FUZZ_CHECK((dump.addresses.size() + dump.links.size()) * NLMSG_HDRLEN <=
             buffer.size());
  for (const RawInterfaceAddress& address : dump.addresses) {
    FUZZ_CHECK(fuzz::IsIpLiteral(address.address));
  }
  // What the agent reports from a dump: only addresses it kept, each with
  // an interface name.
  const std::vector<v1::InterfaceAddress> observable =
      ObservableAddresses(dump);
  FUZZ_CHECK(observable.size() <= dump.addresses.size());
  for (const v1::InterfaceAddress& address : observable) {
    FUZZ_CHECK(fuzz::IsIpLiteral(address.address()));
    FUZZ_CHECK(!address.interface().empty());
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::FuzzRtnetlink(absl::MakeConstSpan(data, size));
  return 0;
}
