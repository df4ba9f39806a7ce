#include "agent/inet_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

absl::StatusOr<InetPrefix> ParseInetPrefix(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not an address range (", why, ")"));
  };
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) return bad("want ADDRESS/LENGTH");
  const std::string address(text.substr(0, slash));
  InetPrefix prefix;
  if (inet_pton(AF_INET, address.c_str(), prefix.bytes.data()) == 1) {
    prefix.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), prefix.bytes.data()) == 1) {
    prefix.family = AF_INET6;
  } else {
    return bad("bad address");
  }
  const int max = prefix.family == AF_INET ? 32 : 128;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &prefix.length) ||
      prefix.length < 0 || prefix.length > max) {
    return bad(absl::StrCat("length must be 0..", max));
  }
  return prefix;
}

bool PrefixContains(const InetPrefix& prefix, const std::string& address) {
  uint8_t bytes[16];
  if (inet_pton(prefix.family, address.c_str(), bytes) != 1) return false;
  const int whole = prefix.length / 8;
  if (std::memcmp(bytes, prefix.bytes.data(), whole) != 0) return false;
  const int rest = prefix.length % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[whole] & mask) == (prefix.bytes[whole] & mask);
}

}  // namespace ghostpeer::agent
