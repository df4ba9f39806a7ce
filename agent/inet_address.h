// Text forms of the raw addresses the kernel hands out (sock_diag,
// /proc/net/tcp, rtnetlink). Pure functions, thread-safe.
#ifndef GHOSTPEER_AGENT_INET_ADDRESS_H_
#define GHOSTPEER_AGENT_INET_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ghostpeer::agent {

// Formats a raw address in network byte order: 4 bytes for AF_INET, 16 for
// AF_INET6. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is shown as the IPv4
// address it carries, since that is the peer the socket talks to. Returns ""
// when `family` is neither AF_INET nor AF_INET6 or `bytes` is too short.
std::string FormatInetAddress(int family, absl::Span<const uint8_t> bytes);

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 (text form as produced
// by FormatInetAddress).
bool IsLoopbackAddress(const std::string& address);

// An address range, "10.99.0.0/16" or "fd00:99::/64".
struct InetPrefix {
  int family = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network byte order; 4 used for AF_INET
  int length = 0;                   // prefix bits
};

// Parses "ADDRESS/LENGTH" (LENGTH up to 32 or 128). InvalidArgument naming
// the text otherwise.
absl::StatusOr<InetPrefix> ParseInetPrefix(absl::string_view text);

// Whether `address` (text, as FormatInetAddress produces) is inside
// `prefix`. False for text that is not an address of the prefix's family.
bool PrefixContains(const InetPrefix& prefix, const std::string& address);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_INET_ADDRESS_H_
