#include "aggregator/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace ghostpeer::aggregator {
namespace {

// Canonical IPv4: four decimal octets 0..255 without leading zeros. This is
// both what inet_ntop prints and the only form the agent sends, so the hot
// path recognises it without a parse-and-format round trip.
bool IsCanonicalIpv4(absl::string_view text) {
  if (text.size() < 7 || text.size() > 15) return false;
  int octets = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t start = i;
    int value = 0;
    // At most four digits are read: a fourth already makes the octet
    // invalid, and reading on would overflow `value` on a long digit run.
    while (i < text.size() && i - start < 4 && text[i] >= '0' &&
           text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    const size_t digits = i - start;
    if (digits == 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && text[start] == '0') return false;
    ++octets;
    if (i == text.size()) break;
    if (text[i] != '.' || octets == 4) return false;
    ++i;
  }
  return octets == 4;
}

// The text is whatever a client sent: the message quotes it escaped and cut
// short, so that it stays one harmless line wherever it is logged.
absl::Status NotAnIpAddress(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", EscapeForLog(text, 64), "' is not an IP address"));
}

}  // namespace

absl::StatusOr<std::string> NormalizeIpAddress(absl::string_view text) {
  if (IsCanonicalIpv4(text)) return std::string(text);
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
    return NotAnIpAddress(text);
  }
  const std::string copy(text);  // inet_pton needs a NUL-terminated string
  char out[INET6_ADDRSTRLEN];
  in_addr v4;
  if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    inet_ntop(AF_INET, &v4, out, sizeof(out));
    return std::string(out);
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, copy.c_str(), &v6) != 1) {
    return NotAnIpAddress(text);
  }
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], sizeof(v4));
    inet_ntop(AF_INET, &v4, out, sizeof(out));
  } else {
    inet_ntop(AF_INET6, &v6, out, sizeof(out));
  }
  return std::string(out);
}

bool IsCanonicalIpAddress(absl::string_view text) {
  if (IsCanonicalIpv4(text)) return true;
  if (text.find(':') == absl::string_view::npos) return false;
  absl::StatusOr<std::string> normalized = NormalizeIpAddress(text);
  return normalized.ok() && *normalized == text;
}

bool IsLoopbackIpAddress(absl::string_view canonical) {
  return absl::StartsWith(canonical, "127.") || canonical == "::1";
}

bool IsUnspecifiedIpAddress(absl::string_view canonical) {
  return canonical == "0.0.0.0" || canonical == "::";
}

}  // namespace ghostpeer::aggregator
