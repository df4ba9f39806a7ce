#include "agent/inet_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/match.h"

namespace ghostpeer::agent {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

// inet_ntop for IPv4 goes through sprintf; snapshots format two addresses per
// socket, so a hand-rolled dotted quad keeps the parser near the dump floor.
std::string FormatIpv4(const uint8_t* bytes) {
  char text[INET_ADDRSTRLEN];
  char* out = text;
  for (int i = 0; i < 4; ++i) {
    unsigned value = bytes[i];
    if (value >= 100) *out++ = static_cast<char>('0' + value / 100);
    if (value >= 10) *out++ = static_cast<char>('0' + value / 10 % 10);
    *out++ = static_cast<char>('0' + value % 10);
    if (i < 3) *out++ = '.';
  }
  return std::string(text, out - text);
}

}  // namespace

std::string FormatInetAddress(int family, absl::Span<const uint8_t> bytes) {
  if (family == AF_INET && bytes.size() >= 4) return FormatIpv4(bytes.data());
  if (family != AF_INET6 || bytes.size() < 16) return "";
  if (std::memcmp(bytes.data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    return FormatIpv4(bytes.data() + 12);
  }
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, bytes.data(), text, sizeof(text)) == nullptr) {
    return "";
  }
  return text;
}

bool IsLoopbackAddress(const std::string& address) {
  return address == "::1" || absl::StartsWith(address, "127.");
}

}  // namespace ghostpeer::agent
