#include "common/host_port.h"

#include <arpa/inet.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ghostpeer {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "'", absl::CHexEscape(text), "': ", why, " (want HOST:PORT)"));
}

bool IsIpv6Address(absl::string_view text) {
  // A zone ("fe80::1%eth0") is the kernel's business, not inet_pton's.
  const std::string address(text.substr(0, text.find('%')));
  in6_addr parsed;
  return inet_pton(AF_INET6, address.c_str(), &parsed) == 1;
}

bool IsIpv4Address(absl::string_view text) {
  const std::string address(text);
  in_addr parsed;
  return inet_pton(AF_INET, address.c_str(), &parsed) == 1;
}

// DNS names and dotted IPv4 addresses; nothing that could be a second
// address, a path or a scheme.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text, PortUse use) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return Bad(text, "no port");
  absl::string_view host = text.substr(0, colon);
  const absl::string_view port_text = text.substr(colon + 1);

  HostPort parsed;
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]") || !IsIpv6Address(host)) {
      return Bad(text, "not an IPv6 address between the brackets");
    }
  } else if (host.find(':') != absl::string_view::npos) {
    return Bad(text, "write an IPv6 host in brackets, [ADDR]:PORT");
  } else if (host.empty()) {
    if (use != PortUse::kListen) return Bad(text, "no host");
  } else if (!IsHostName(host)) {
    return Bad(text, "the host is not a name or an address");
  }
  parsed.host = std::string(host);

  const int lowest = use == PortUse::kListen ? 0 : 1;
  uint32_t port = 0;
  // SimpleAtoi accepts a sign and surrounding blanks; a port is digits.
  const bool digits =
      !port_text.empty() && port_text.size() <= 5 &&
      std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(port_text, &port) ||
      port < static_cast<uint32_t>(lowest) || port > 65535) {
    return Bad(text, absl::StrCat("the port must be a number from ", lowest,
                                  " to 65535"));
  }
  parsed.port = static_cast<uint16_t>(port);
  return parsed;
}

absl::Status ValidateGrpcTarget(absl::string_view target) {
  absl::string_view rest = target;
  const bool ipv4 = absl::ConsumePrefix(&rest, "ipv4:");
  const bool ipv6 = !ipv4 && absl::ConsumePrefix(&rest, "ipv6:");
  if (ipv4 || ipv6) {
    // gRPC's address lists: every entry an address of that family, with a
    // port.
    for (absl::string_view entry : absl::StrSplit(rest, ',')) {
      absl::StatusOr<HostPort> parsed = ParseHostPort(entry, PortUse::kDial);
      if (!parsed.ok()) return parsed.status();
      const bool family_ok =
          ipv4 ? IsIpv4Address(parsed->host) : IsIpv6Address(parsed->host);
      if (!family_ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", absl::CHexEscape(target), "': '", absl::CHexEscape(entry),
            "' is not an ", ipv4 ? "IPv4" : "IPv6", " address with a port"));
      }
    }
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&rest, "dns:")) {
    // dns:HOST:PORT, dns:///HOST:PORT or dns://AUTHORITY/HOST:PORT.
    if (absl::ConsumePrefix(&rest, "//")) {
      const size_t slash = rest.find('/');
      if (slash == absl::string_view::npos) {
        return Bad(target, "a dns:// target needs a '/' before HOST:PORT");
      }
      rest.remove_prefix(slash + 1);
    }
  }
  return ParseHostPort(rest, PortUse::kDial).status();
}

}  // namespace ghostpeer
