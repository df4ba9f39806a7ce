#include "agent/rtnetlink.h"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/inet_address.h"
#include "common/utf8.h"

namespace ghostpeer::agent {
namespace {

std::string AttributeString(absl::Span<const uint8_t> payload) {
  const auto* begin = reinterpret_cast<const char*>(payload.data());
  // NUL-terminated by the kernel, but never trust it to be; and an
  // interface name is any bytes but '/', ':' and blanks.
  return RepairUtf8(absl::string_view(begin, strnlen(begin, payload.size())));
}

void ParseAddress(const NetlinkMessage& message, RtnetlinkDump* dump) {
  if (message.payload.size() < sizeof(ifaddrmsg)) {
    ++dump->malformed;
    return;
  }
  ifaddrmsg header;
  std::memcpy(&header, message.payload.data(), sizeof(header));
  const size_t address_size = header.ifa_family == AF_INET    ? 4
                              : header.ifa_family == AF_INET6 ? 16
                                                              : 0;
  if (address_size == 0) return;  // not an IP address (e.g. AF_MCTP)
  RawInterfaceAddress entry;
  entry.family = header.ifa_family;
  entry.prefix_len = header.ifa_prefixlen;
  entry.ifindex = header.ifa_index;
  std::string local, address;
  WalkAttributes(message.payload.subspan(NLMSG_ALIGN(sizeof(ifaddrmsg))),
                 [&](uint16_t type, absl::Span<const uint8_t> payload) {
                   switch (type) {
                     case IFA_LOCAL:
                       if (payload.size() >= address_size) {
                         local = FormatInetAddress(header.ifa_family, payload);
                       }
                       break;
                     case IFA_ADDRESS:
                       if (payload.size() >= address_size) {
                         address =
                             FormatInetAddress(header.ifa_family, payload);
                       }
                       break;
                     case IFA_LABEL:
                       entry.label = AttributeString(payload);
                       break;
                     default:
                       break;
                   }
                 });
  entry.address = !local.empty() ? local : address;
  if (entry.address.empty()) {
    ++dump->malformed;
    return;
  }
  dump->addresses.push_back(std::move(entry));
}

void ParseLink(const NetlinkMessage& message, RtnetlinkDump* dump) {
  if (message.payload.size() < sizeof(ifinfomsg)) {
    ++dump->malformed;
    return;
  }
  ifinfomsg header;
  std::memcpy(&header, message.payload.data(), sizeof(header));
  RawLink link;
  link.ifindex = static_cast<uint32_t>(header.ifi_index);
  link.flags = header.ifi_flags;
  WalkAttributes(message.payload.subspan(NLMSG_ALIGN(sizeof(ifinfomsg))),
                 [&](uint16_t type, absl::Span<const uint8_t> payload) {
                   if (type == IFLA_IFNAME)
                     link.name = AttributeString(payload);
                 });
  dump->links.push_back(std::move(link));
}

bool IsIpv6LinkLocal(const std::string& address) {
  // fe80::/10 covers fe80:: to febf::.
  if (address.size() < 4) return false;
  const std::string head = absl::AsciiStrToLower(address.substr(0, 4));
  return head >= "fe80" && head <= "febf" && address.find(':') == 4;
}

}  // namespace

std::vector<uint8_t> BuildGetAddressRequest(uint32_t seq) {
  ifaddrmsg request;
  std::memset(&request, 0, sizeof(request));
  request.ifa_family = AF_UNSPEC;
  return BuildNetlinkDumpRequest(RTM_GETADDR, seq, request);
}

std::vector<uint8_t> BuildGetLinkRequest(uint32_t seq) {
  ifinfomsg request;
  std::memset(&request, 0, sizeof(request));
  request.ifi_family = AF_UNSPEC;
  return BuildNetlinkDumpRequest(RTM_GETLINK, seq, request);
}

absl::Status ParseRtnetlinkMessagesInto(absl::Span<const uint8_t> buffer,
                                        const NetlinkExpect& expect,
                                        RtnetlinkDump* dump) {
  NetlinkWalkResult walk;
  absl::Status status = WalkNetlinkMessages(
      buffer, expect, "rtnetlink dump",
      [dump](const NetlinkMessage& message) {
        if (message.type == RTM_NEWADDR) {
          ParseAddress(message, dump);
        } else if (message.type == RTM_NEWLINK) {
          ParseLink(message, dump);
        } else {
          ++dump->malformed;
        }
        return absl::OkStatus();
      },
      &walk);
  dump->done = dump->done || walk.done;
  dump->dump_interrupted = dump->dump_interrupted || walk.dump_interrupted;
  return status;
}

std::vector<v1::InterfaceAddress> ObservableAddresses(
    const RtnetlinkDump& dump) {
  absl::flat_hash_map<uint32_t, const RawLink*> links;
  for (const RawLink& link : dump.links) links[link.ifindex] = &link;
  std::vector<v1::InterfaceAddress> result;
  for (const RawInterfaceAddress& entry : dump.addresses) {
    std::string name;
    auto link = links.find(entry.ifindex);
    if (link != links.end()) {
      if (link->second->flags & IFF_LOOPBACK) continue;
      name = link->second->name;
    }
    if (name.empty()) name = entry.label;
    if (name.empty()) name = absl::StrCat("if", entry.ifindex);
    if (name == "lo" || IsLoopbackAddress(entry.address) ||
        (entry.family == AF_INET6 && IsIpv6LinkLocal(entry.address))) {
      continue;
    }
    v1::InterfaceAddress address;
    address.set_address(entry.address);
    address.set_prefix_len(entry.prefix_len);
    address.set_interface(name);
    result.push_back(std::move(address));
  }
  std::sort(result.begin(), result.end(),
            [](const v1::InterfaceAddress& a, const v1::InterfaceAddress& b) {
              return std::tie(a.interface(), a.address()) <
                     std::tie(b.interface(), b.address());
            });
  return result;
}

}  // namespace ghostpeer::agent
