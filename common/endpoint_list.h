// The aggregators an agent or the CLI may dial, as one flag value:
// "agg-1:7070,agg-2:7070" in order of preference. Shared by
// ghostpeer-agent (--aggregator) and ghostpeer (--server) so both accept
// and refuse the same lists.
#ifndef GHOSTPEER_COMMON_ENDPOINT_LIST_H_
#define GHOSTPEER_COMMON_ENDPOINT_LIST_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ghostpeer {

// More would only make a failover round (each endpoint tried once before
// backing off) longer than anyone waits for.
inline constexpr size_t kMaxEndpoints = 16;

// Splits a comma-separated list of gRPC targets to dial; blanks around each
// entry are ignored. Each entry is HOST:PORT, [IPV6]:PORT or a dns: target
// as ValidateGrpcTarget (common/host_port.h) accepts it, port 1..65535.
// A whole value starting with "ipv4:" or "ipv6:" is gRPC's own address list
// and stays one endpoint (gRPC picks among its addresses), as does a DNS
// name that resolves to several addresses.
//
// Returns the entries, trimmed, in the order given. InvalidArgument naming
// the bad entry for an empty entry, a bad host or port, an entry listed
// twice (hosts compared case-insensitively), or more than kMaxEndpoints
// entries. Pure.
absl::StatusOr<std::vector<std::string>> ParseEndpointList(
    absl::string_view text);

// The endpoints as one string for messages: "a:7070, b:7070".
std::string JoinEndpoints(const std::vector<std::string>& endpoints);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_ENDPOINT_LIST_H_
