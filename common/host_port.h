// HOST:PORT flags, checked once for all three binaries: where to listen
// (--listen, --http-listen, --metrics-listen) and where to dial (--aggregator,
// --server). gRPC and cpp-httplib both accept things we must not: gRPC takes
// "127.0.0.1:99999" and listens on whatever port the number wraps to, and
// a host without a port silently means 443.
#ifndef GHOSTPEER_COMMON_HOST_PORT_H_
#define GHOSTPEER_COMMON_HOST_PORT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ghostpeer {

struct HostPort {
  // A name or an address; IPv6 without its brackets. Empty only for a
  // listen address written ":PORT" (every interface).
  std::string host;
  uint16_t port = 0;
};

// What the address is for: it decides which ports make sense.
enum class PortUse {
  kListen,  // 0..65535; 0 lets the kernel pick a free port
  kDial,    // 1..65535
};

// Splits "HOST:PORT" or "[IPV6]:PORT" (and, for kListen, ":PORT") into host
// and port. The host is a DNS name or an IPv4 address (letters, digits,
// '.', '-', '_') or a bracketed IPv6 address; the port is decimal and in the
// range of `use`. InvalidArgument naming the text and what is wrong. Pure.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, PortUse use);

// Checks a gRPC target to dial: HOST:PORT as ParseHostPort(kDial) accepts
// it, optionally behind gRPC's "dns:", "dns:///" or "dns://AUTHORITY/"
// scheme, or "ipv4:" / "ipv6:" followed by a comma-separated list of
// addresses with ports. OK or InvalidArgument. Pure.
absl::Status ValidateGrpcTarget(absl::string_view target);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_HOST_PORT_H_
