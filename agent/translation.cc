#include "agent/translation.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/inet_address.h"
#include "agent/netlink_socket.h"
#include "agent/proc_fs.h"

namespace ghostpeer::agent {
namespace {

// ---------------------------------------------------------------------------
// Text helpers shared by the two /proc parsers.

// Fixed-width hex as the kernel prints it ("%08X", "%04X"): 1..max_digits
// hex digits, nothing else (no sign, no 0x: SimpleHexAtoi would take both).
bool ParseHex(absl::string_view text, size_t max_digits, uint32_t* value) {
  if (text.empty() || text.size() > max_digits) return false;
  uint32_t result = 0;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
    const uint32_t digit = absl::ascii_isdigit(static_cast<unsigned char>(c))
                               ? c - '0'
                               : absl::ascii_tolower(c) - 'a' + 10;
    result = result << 4 | digit;
  }
  *value = result;
  return true;
}

bool ParsePort(absl::string_view text, uint16_t* port) {
  uint32_t value = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &value) || value > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(text[0]))) {
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

// An address of `family` in any text form the kernel prints (%pI6 is the
// full, uncompressed one), as canonical inet_ntop text ("" when it is none).
std::string CanonicalAddress(int family, absl::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text (with an
  // embedded dotted quad) is 45 characters.
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buffer)) return "";
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  uint8_t bytes[16];
  if (inet_pton(family, buffer, bytes) != 1) return "";
  return FormatInetAddress(family, absl::MakeConstSpan(bytes));
}

// A kernel state name: upper-case letters, digits, '_' (and '!' for IPVS's
// "ERR!"/"BUG!"), short. Anything else is not the kernel's and would carry
// arbitrary bytes into reports.
bool IsStateName(absl::string_view text) {
  if (text.empty() || text.size() > 16) return false;
  for (char c : text) {
    if (!absl::ascii_isupper(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_' &&
        c != '!') {
      return false;
    }
  }
  return true;
}

// IPPROTO_TCP or IPPROTO_UDP for their names ("TCP" in ip_vs_conn, "tcp" in
// nf_conntrack), 0 for any other protocol: only those two are joined to
// sockets.
uint8_t JoinedProtocol(absl::string_view name) {
  if (absl::EqualsIgnoreCase(name, "tcp")) return IPPROTO_TCP;
  if (absl::EqualsIgnoreCase(name, "udp")) return IPPROTO_UDP;
  return 0;
}

std::vector<absl::string_view> Fields(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

// ---------------------------------------------------------------------------
// /proc/net/ip_vs_conn

// An ip_vs_conn address: "%08X" of the ntohl()'d IPv4 address, or "%pI6".
// The three addresses of one line may differ in family (an IPv4 service can
// forward to an IPv6 real server), so each is told apart by its own text.
std::string IpVsAddress(absl::string_view text) {
  if (text.find(':') != absl::string_view::npos) {
    return CanonicalAddress(AF_INET6, text);
  }
  uint32_t value = 0;
  if (text.size() != 8 || !ParseHex(text, 8, &value)) return "";
  const uint8_t bytes[4] = {
      static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
      static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  return FormatInetAddress(AF_INET, absl::MakeConstSpan(bytes));
}

bool IpVsPort(absl::string_view text, uint16_t* port) {
  uint32_t value = 0;
  if (!ParseHex(text, 4, &value)) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

enum class LineResult { kKept, kSkipped, kMalformed };

LineResult ParseIpVsLine(absl::string_view line, Translation* out) {
  const std::vector<absl::string_view> fields = Fields(line);
  if (fields.empty()) return LineResult::kSkipped;
  if (fields[0] == "Pro") return LineResult::kSkipped;  // the header
  // Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires [PEName PEData]
  if (fields.size() < 9) return LineResult::kMalformed;
  Translation t;
  t.translator = Translator::kIpvs;
  t.protocol = JoinedProtocol(fields[0]);
  if (t.protocol == 0) {
    // SCTP, ESP, AH, IP: not ours to join; anything else is no protocol.
    return IsStateName(fields[0]) ? LineResult::kSkipped
                                  : LineResult::kMalformed;
  }
  t.client_ip = IpVsAddress(fields[1]);
  t.service_ip = IpVsAddress(fields[3]);
  t.backend_ip = IpVsAddress(fields[5]);
  if (t.client_ip.empty() || t.service_ip.empty() || t.backend_ip.empty() ||
      !IpVsPort(fields[2], &t.client_port) ||
      !IpVsPort(fields[4], &t.service_port) ||
      !IpVsPort(fields[6], &t.backend_port) || !IsStateName(fields[7]) ||
      !absl::SimpleAtoi(fields[8], &t.expires_s) ||
      !absl::ascii_isdigit(static_cast<unsigned char>(fields[8][0]))) {
    return LineResult::kMalformed;
  }
  t.state = std::string(fields[7]);
  *out = std::move(t);
  return LineResult::kKept;
}

// ---------------------------------------------------------------------------
// /proc/net/nf_conntrack

struct TextTuple {
  absl::string_view src, dst, sport, dport;
  bool complete() const {
    return !src.empty() && !dst.empty() && !sport.empty() && !dport.empty();
  }
};

LineResult ParseConntrackLine(absl::string_view line, Translation* out) {
  const std::vector<absl::string_view> fields = Fields(line);
  if (fields.empty()) return LineResult::kSkipped;
  // l3 name, l3 number, l4 name, l4 number, [timeout], [TCP state], the
  // original tuple, [UNREPLIED], the reply tuple, flags and key=values.
  if (fields.size() < 4) return LineResult::kMalformed;
  int family;
  if (fields[0] == "ipv4") {
    family = AF_INET;
  } else if (fields[0] == "ipv6") {
    family = AF_INET6;
  } else {
    return LineResult::kMalformed;
  }
  Translation t;
  t.translator = Translator::kConntrack;
  t.protocol = JoinedProtocol(fields[2]);
  if (t.protocol == 0) return LineResult::kSkipped;  // icmp, sctp, unknown
  TextTuple tuples[2];
  int tuple = 0;  // which tuple the next src/dst/sport/dport belongs to
  bool unreplied = false, assured = false, have_timeout = false;
  for (size_t i = 4; i < fields.size(); ++i) {
    const absl::string_view field = fields[i];
    const size_t equals = field.find('=');
    if (equals == absl::string_view::npos) {
      if (field == "[UNREPLIED]") {
        unreplied = true;
      } else if (field == "[ASSURED]") {
        assured = true;
      } else if (field.front() == '[') {
        // [OFFLOAD], [HW_OFFLOAD]: flags we do not need
      } else if (i == 4 && absl::ascii_isdigit(
                               static_cast<unsigned char>(field.front()))) {
        // Offloaded entries print no timeout, so it is optional.
        if (!absl::SimpleAtoi(field, &t.expires_s)) {
          return LineResult::kMalformed;
        }
        have_timeout = true;
      } else if (t.protocol == IPPROTO_TCP && t.state.empty() &&
                 tuples[0].src.empty() && IsStateName(field)) {
        t.state = std::string(field);
      } else {
        return LineResult::kMalformed;
      }
      continue;
    }
    const absl::string_view key = field.substr(0, equals);
    const absl::string_view value = field.substr(equals + 1);
    absl::string_view* slot = nullptr;
    if (key == "src") {
      // A second src starts the reply tuple.
      if (!tuples[tuple].src.empty()) ++tuple;
      if (tuple > 1) return LineResult::kMalformed;
      slot = &tuples[tuple].src;
    } else if (key == "dst") {
      slot = &tuples[tuple].dst;
    } else if (key == "sport") {
      slot = &tuples[tuple].sport;
    } else if (key == "dport") {
      slot = &tuples[tuple].dport;
    } else {
      continue;  // mark, zone, use, secctx, packets, bytes, delta-time ...
    }
    if (!slot->empty() || value.empty()) return LineResult::kMalformed;
    *slot = value;
  }
  (void)have_timeout;
  if (!tuples[0].complete() || !tuples[1].complete()) {
    return LineResult::kMalformed;
  }
  const auto address = [family](absl::string_view text) {
    return CanonicalAddress(family, text);
  };
  t.client_ip = address(tuples[0].src);
  t.service_ip = address(tuples[0].dst);
  t.backend_ip = address(tuples[1].src);
  uint16_t reply_dport = 0;
  if (t.client_ip.empty() || t.service_ip.empty() || t.backend_ip.empty() ||
      address(tuples[1].dst).empty() ||
      !ParsePort(tuples[0].sport, &t.client_port) ||
      !ParsePort(tuples[0].dport, &t.service_port) ||
      !ParsePort(tuples[1].sport, &t.backend_port) ||
      !ParsePort(tuples[1].dport, &reply_dport)) {
    return LineResult::kMalformed;
  }
  if (t.protocol == IPPROTO_TCP && t.state.empty()) {
    return LineResult::kMalformed;
  }
  if (t.protocol == IPPROTO_UDP) {
    t.state = unreplied ? "UNREPLIED" : assured ? "ASSURED" : "";
  }
  // Destination NAT is what the text cannot say directly: the reply comes
  // from somewhere else than where the client sent it.
  if (t.backend_ip == t.service_ip && t.backend_port == t.service_port) {
    return LineResult::kSkipped;
  }
  *out = std::move(t);
  return LineResult::kKept;
}

template <typename LineParser>
std::vector<Translation> ParseLines(absl::string_view text, size_t* malformed,
                                    LineParser parse) {
  std::vector<Translation> flows;
  size_t bad = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    Translation t;
    switch (parse(line, &t)) {
      case LineResult::kKept:
        flows.push_back(std::move(t));
        break;
      case LineResult::kMalformed:
        ++bad;
        break;
      case LineResult::kSkipped:
        break;
    }
  }
  if (malformed != nullptr) *malformed = bad;
  return flows;
}

// ---------------------------------------------------------------------------
// ctnetlink

constexpr uint16_t kConntrackNew =
    (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint16_t kConntrackDelete =
    (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
constexpr uint16_t kConntrackGet =
    (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;

// TCP_CONNTRACK_* (nf_conntrack_tcp.h), the names conntrack(8) prints.
constexpr const char* kTcpConntrackStates[] = {
    "NONE",       "SYN_SENT", "SYN_RECV",  "ESTABLISHED", "FIN_WAIT",
    "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2"};

uint16_t Big16(absl::Span<const uint8_t> payload) {
  return static_cast<uint16_t>(payload[0] << 8 | payload[1]);
}

uint32_t Big32(absl::Span<const uint8_t> payload) {
  return static_cast<uint32_t>(payload[0]) << 24 |
         static_cast<uint32_t>(payload[1]) << 16 |
         static_cast<uint32_t>(payload[2]) << 8 | payload[3];
}

struct NetlinkTuple {
  std::string src, dst;
  std::optional<uint8_t> protocol;
  std::optional<uint16_t> sport, dport;
};

struct NetlinkEntry {
  std::optional<NetlinkTuple> orig, reply;
  std::optional<uint32_t> status;
  std::optional<uint8_t> tcp_state;
  std::optional<uint32_t> timeout;
  // A length that does not fit the attribute's type, or a nested list whose
  // framing broke: the message is not what the kernel sends.
  bool malformed = false;
};

void ParseTuple(absl::Span<const uint8_t> bytes, NetlinkEntry* entry,
                std::optional<NetlinkTuple>* out) {
  NetlinkTuple tuple;
  const bool framed = WalkAttributes(
      bytes, [&](uint16_t type, absl::Span<const uint8_t> payload) {
        if (type == CTA_TUPLE_IP) {
          const bool nested_framed = WalkAttributes(
              payload,
              [&](uint16_t ip_type, absl::Span<const uint8_t> address) {
                const bool v4 =
                    ip_type == CTA_IP_V4_SRC || ip_type == CTA_IP_V4_DST;
                const bool v6 =
                    ip_type == CTA_IP_V6_SRC || ip_type == CTA_IP_V6_DST;
                if (!v4 && !v6) return;
                if (address.size() != (v4 ? 4u : 16u)) {
                  entry->malformed = true;
                  return;
                }
                std::string text =
                    FormatInetAddress(v4 ? AF_INET : AF_INET6, address);
                if (ip_type == CTA_IP_V4_SRC || ip_type == CTA_IP_V6_SRC) {
                  tuple.src = std::move(text);
                } else {
                  tuple.dst = std::move(text);
                }
              });
          if (!nested_framed) entry->malformed = true;
        } else if (type == CTA_TUPLE_PROTO) {
          const bool nested_framed = WalkAttributes(
              payload,
              [&](uint16_t proto_type, absl::Span<const uint8_t> value) {
                switch (proto_type) {
                  case CTA_PROTO_NUM:
                    if (value.size() != 1) {
                      entry->malformed = true;
                    } else {
                      tuple.protocol = value[0];
                    }
                    break;
                  case CTA_PROTO_SRC_PORT:
                  case CTA_PROTO_DST_PORT:
                    if (value.size() != 2) {
                      entry->malformed = true;
                    } else {
                      (proto_type == CTA_PROTO_SRC_PORT ? tuple.sport
                                                        : tuple.dport) =
                          Big16(value);
                    }
                    break;
                  default:
                    break;  // ICMP id/type/code
                }
              });
          if (!nested_framed) entry->malformed = true;
        }
      });
  if (!framed) entry->malformed = true;
  *out = std::move(tuple);
}

void ParseProtoInfo(absl::Span<const uint8_t> bytes, NetlinkEntry* entry) {
  const bool framed = WalkAttributes(
      bytes, [&](uint16_t type, absl::Span<const uint8_t> payload) {
        if (type != CTA_PROTOINFO_TCP) return;
        const bool nested_framed = WalkAttributes(
            payload, [&](uint16_t tcp_type, absl::Span<const uint8_t> value) {
              if (tcp_type != CTA_PROTOINFO_TCP_STATE) return;
              if (value.size() != 1) {
                entry->malformed = true;
              } else {
                entry->tcp_state = value[0];
              }
            });
        if (!nested_framed) entry->malformed = true;
      });
  if (!framed) entry->malformed = true;
}

// 1. Collect the attributes we need, checking each one's length.
// 2. Skip what is not ours (no destination NAT, neither TCP nor UDP).
// 3. Demand both full tuples of what is ours: the kernel always sends them.
// `message` must be a NEW (dump reply or event) or DELETE (event).
absl::Status ParseConntrackEntry(const NetlinkMessage& message,
                                 std::vector<Translation>* out) {
  if (message.payload.size() < sizeof(nfgenmsg)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ctnetlink dump: a message of ", message.payload.size(),
                     " bytes has no room for nfgenmsg"));
  }
  NetlinkEntry entry;
  const bool framed = WalkAttributes(
      message.payload.subspan(NLMSG_ALIGN(sizeof(nfgenmsg))),
      [&entry](uint16_t type, absl::Span<const uint8_t> payload) {
        switch (type) {
          case CTA_TUPLE_ORIG:
            ParseTuple(payload, &entry, &entry.orig);
            break;
          case CTA_TUPLE_REPLY:
            ParseTuple(payload, &entry, &entry.reply);
            break;
          case CTA_STATUS:
          case CTA_TIMEOUT:
            if (payload.size() != 4) {
              entry.malformed = true;
            } else {
              (type == CTA_STATUS ? entry.status : entry.timeout) =
                  Big32(payload);
            }
            break;
          case CTA_PROTOINFO:
            ParseProtoInfo(payload, &entry);
            break;
          default:
            break;
        }
      });
  if (!framed || entry.malformed || !entry.status.has_value()) {
    return absl::InvalidArgumentError(
        !framed || entry.malformed
            ? "ctnetlink dump: an entry's attributes are cut short or of the "
              "wrong size"
            : "ctnetlink dump: an entry without CTA_STATUS");
  }
  if ((*entry.status & IPS_DST_NAT) == 0) return absl::OkStatus();
  if (!entry.orig.has_value() || !entry.orig->protocol.has_value()) {
    return absl::InvalidArgumentError(
        "ctnetlink dump: a NAT entry without its original tuple");
  }
  const uint8_t protocol = *entry.orig->protocol;
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) {
    return absl::OkStatus();
  }
  const auto complete = [](const std::optional<NetlinkTuple>& tuple) {
    return tuple.has_value() && !tuple->src.empty() && !tuple->dst.empty() &&
           tuple->sport.has_value() && tuple->dport.has_value();
  };
  if (!complete(entry.orig) || !complete(entry.reply)) {
    return absl::InvalidArgumentError(
        "ctnetlink dump: a TCP/UDP NAT entry with an incomplete tuple");
  }
  Translation t;
  t.translator = Translator::kConntrack;
  t.protocol = protocol;
  t.client_ip = std::move(entry.orig->src);
  t.client_port = *entry.orig->sport;
  t.service_ip = std::move(entry.orig->dst);
  t.service_port = *entry.orig->dport;
  t.backend_ip = std::move(entry.reply->src);
  t.backend_port = *entry.reply->sport;
  t.expires_s = entry.timeout.value_or(0);
  if (protocol == IPPROTO_TCP) {
    if (entry.tcp_state.has_value()) {
      const uint8_t state = *entry.tcp_state;
      t.state = state < std::size(kTcpConntrackStates)
                    ? kTcpConntrackStates[state]
                    : absl::StrCat("STATE_", state);
    }
  } else if ((*entry.status & IPS_SEEN_REPLY) == 0) {
    t.state = "UNREPLIED";
  } else if (*entry.status & IPS_ASSURED) {
    t.state = "ASSURED";
  }
  out->push_back(std::move(t));
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

int ReadSetting(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, 64);
  int value = -1;
  if (!text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) {
    return -1;
  }
  return value;
}

// Reads a /proc table of at most `max_bytes`; a table that fills the budget
// is cut at its last whole line and `*cut` says so.
absl::StatusOr<std::string> ReadProcTable(const std::string& path,
                                          size_t max_bytes, bool* cut) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, max_bytes);
  if (!text.ok()) return text;
  *cut = text->size() >= max_bytes;
  if (*cut) {
    const size_t last = text->rfind('\n');
    text->resize(last == std::string::npos ? 0 : last + 1);
  }
  return text;
}

// Keeps the first `max_flows`; true when some were dropped.
bool Cap(std::vector<Translation>* flows, size_t max_flows) {
  if (flows->size() <= max_flows) return false;
  flows->resize(max_flows);
  return true;
}

void AppendError(std::string* error, absl::string_view more) {
  if (!error->empty()) error->append("; ");
  error->append(more.data(), more.size());
}

}  // namespace

std::vector<Translation> ParseIpVsConn(absl::string_view text,
                                       size_t* malformed) {
  return ParseLines(text, malformed, ParseIpVsLine);
}

std::vector<Translation> ParseProcConntrack(absl::string_view text,
                                            size_t* malformed) {
  return ParseLines(text, malformed, ParseConntrackLine);
}

std::vector<uint8_t> BuildConntrackDumpRequest(uint32_t seq) {
  // nfgenmsg and two attributes, all 4-byte sized: no padding anywhere.
  struct Request {
    nfgenmsg header;
    nlattr status_attribute;
    uint32_t status;  // big-endian
    nlattr mask_attribute;
    uint32_t mask;  // big-endian
  };
  static_assert(sizeof(Request) == 20);
  Request request;
  std::memset(&request, 0, sizeof(request));
  // AF_UNSPEC: ctnetlink_dump_table filters by l3num only when a family is
  // given, so one dump holds IPv4 and IPv6 entries.
  request.header.nfgen_family = AF_UNSPEC;
  request.header.version = NFNETLINK_V0;
  // CTA_STATUS under CTA_STATUS_MASK: kernels that know the status filter
  // (Debian 12's 6.1 headers define it; on 6.18 it dropped the untranslated
  // entries of the recorded scenario, 1212 -> 868 bytes) send only entries
  // with destination NAT, so a busy node's other flows are never copied to
  // us. Older kernels ignore it and the parser skips those entries.
  request.status_attribute.nla_len = NLA_HDRLEN + sizeof(uint32_t);
  request.status_attribute.nla_type = CTA_STATUS;
  request.status = htonl(IPS_DST_NAT);
  request.mask_attribute.nla_len = NLA_HDRLEN + sizeof(uint32_t);
  request.mask_attribute.nla_type = CTA_STATUS_MASK;
  request.mask = htonl(IPS_DST_NAT);
  return BuildNetlinkDumpRequest(kConntrackGet, seq, request);
}

absl::Status ParseConntrackMessagesInto(absl::Span<const uint8_t> bytes,
                                        const NetlinkExpect& expect,
                                        std::vector<Translation>* out,
                                        bool* done) {
  const auto parse_entry = [out](const NetlinkMessage& message) {
    if (message.type != kConntrackNew) return absl::OkStatus();
    return ParseConntrackEntry(message, out);
  };
  NetlinkWalkResult walk;
  absl::Status status =
      WalkNetlinkMessages(bytes, expect, "ctnetlink dump", parse_entry, &walk);
  *done = *done || walk.done;
  // Broken framing is a malformed reply like any other here; the kernel's
  // own errors (PermissionDenied, ...) pass through as they are.
  if (absl::IsDataLoss(status)) {
    return absl::InvalidArgumentError(status.message());
  }
  return status;
}

absl::Status ParseConntrackEvents(absl::Span<const uint8_t> bytes,
                                  std::vector<ConntrackEvent>* out) {
  std::vector<Translation> flows;
  const auto parse_event = [&](const NetlinkMessage& message) {
    if (message.type != kConntrackNew && message.type != kConntrackDelete) {
      return absl::OkStatus();
    }
    flows.clear();
    absl::Status status = ParseConntrackEntry(message, &flows);
    for (Translation& flow : flows) {
      ConntrackEvent event;
      event.kind = message.type == kConntrackNew
                       ? ConntrackEvent::Kind::kNew
                       : ConntrackEvent::Kind::kDestroy;
      event.flow = std::move(flow);
      out->push_back(std::move(event));
    }
    return status;
  };
  NetlinkWalkResult walk;
  absl::Status status = WalkNetlinkMessages(
      bytes, NetlinkExpect{}, "ctnetlink event", parse_event, &walk);
  if (absl::IsDataLoss(status)) {
    return absl::InvalidArgumentError(status.message());
  }
  return status;
}

absl::Status ParseConntrackDump(absl::Span<const uint8_t> bytes,
                                std::vector<Translation>* out, bool* done) {
  return ParseConntrackMessagesInto(bytes, NetlinkExpect{}, out, done);
}

NamespaceTranslations ReadTranslationsHere(const std::string& proc_root) {
  return ReadTranslationsHere(proc_root, TranslationReadOptions());
}

NamespaceTranslations ReadTranslationsHere(
    const std::string& proc_root, const TranslationReadOptions& options) {
  NamespaceTranslations result;
  const std::string net = proc_root + "/thread-self/net/";

  // 1. conntrack through ctnetlink: the portable path (the /proc file is
  //    optional in kernels), but it needs CAP_NET_ADMIN.
  // Not asked for: as if read (no fallback either).
  bool read_conntrack = !options.read_conntrack;
  if (options.read_conntrack && options.use_ctnetlink) {
    absl::StatusOr<NetlinkSocket> socket =
        NetlinkSocket::Open(NETLINK_NETFILTER, options.receive_timeout);
    absl::Status status = socket.status();
    if (socket.ok()) {
      const uint32_t seq = socket->NextSeq();
      status = socket->Dump(
          BuildConntrackDumpRequest(seq), seq,
          [&](absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
              bool* done) {
            absl::Status parsed =
                ParseConntrackMessagesInto(buffer, expect, &result.flows, done);
            if (parsed.ok() && result.flows.size() > options.max_flows) {
              return absl::ResourceExhaustedError(absl::StrCat(
                  "conntrack: more than ", options.max_flows,
                  " NAT flows in this namespace, the rest not read"));
            }
            return parsed;
          });
    }
    if (status.ok()) {
      read_conntrack = true;
    } else if (absl::IsResourceExhausted(status)) {
      Cap(&result.flows, options.max_flows);
      AppendError(&result.error, status.message());
      read_conntrack = true;
    } else if (absl::IsPermissionDenied(status) ||
               absl::IsUnimplemented(status)) {
      // No CAP_NET_ADMIN (or no nfnetlink): the /proc file below.
      result.flows.clear();
    } else {
      // A real failure (a malformed reply, a timeout): the fallback would
      // not help. The flows before it are kept, as `flows` promises: a
      // missing flow only means a socket goes untranslated.
      AppendError(&result.error, status.message());
      read_conntrack = true;
    }
  }

  // 2. The fallback, readable by uid 0 without capabilities where the kernel
  //    has CONFIG_NF_CONNTRACK_PROCFS. No file: no conntrack in this
  //    namespace (nothing uses it) or no procfs support; neither is an error
  //    unless ctnetlink was refused too.
  if (!read_conntrack) {
    bool cut = false;
    absl::StatusOr<std::string> text =
        ReadProcTable(net + "nf_conntrack", options.max_proc_bytes, &cut);
    if (text.ok()) {
      result.flows = ParseProcConntrack(*text);
      if (cut) {
        AppendError(&result.error,
                    absl::StrCat("nf_conntrack: cut at ",
                                 options.max_proc_bytes, " bytes"));
      }
    } else if (!absl::IsNotFound(text.status()) || options.use_ctnetlink) {
      AppendError(&result.error,
                  absl::StrCat(options.use_ctnetlink
                                   ? "ctnetlink refused (no CAP_NET_ADMIN) "
                                     "and "
                                   : "",
                               text.status().message()));
    }
    if (Cap(&result.flows, options.max_flows)) {
      AppendError(&result.error,
                  absl::StrCat("conntrack: more than ", options.max_flows,
                               " NAT flows in this namespace, the rest not "
                               "read"));
    }
  }

  // 3. IPVS: the file exists only where the ip_vs module is loaded, and is
  //    per namespace.
  const std::string ip_vs_conn = net + "ip_vs_conn";
  if (options.read_ipvs && Exists(ip_vs_conn)) {
    IpvsSettings settings;
    const std::string vs = proc_root + "/sys/net/ipv4/vs/";
    settings.expire_nodest_conn = ReadSetting(vs + "expire_nodest_conn");
    settings.expire_quiescent_template =
        ReadSetting(vs + "expire_quiescent_template");
    settings.conn_reuse_mode = ReadSetting(vs + "conn_reuse_mode");
    result.ipvs = settings;
    bool cut = false;
    absl::StatusOr<std::string> text =
        ReadProcTable(ip_vs_conn, options.max_proc_bytes, &cut);
    if (text.ok()) {
      std::vector<Translation> ipvs = ParseIpVsConn(*text);
      if (cut) {
        AppendError(&result.error,
                    absl::StrCat("ip_vs_conn: cut at ", options.max_proc_bytes,
                                 " bytes"));
      }
      if (Cap(&ipvs, options.max_flows)) {
        AppendError(&result.error,
                    absl::StrCat("ip_vs_conn: more than ", options.max_flows,
                                 " connections, the rest not read"));
      }
      result.flows.insert(result.flows.end(),
                          std::make_move_iterator(ipvs.begin()),
                          std::make_move_iterator(ipvs.end()));
    } else {
      AppendError(&result.error, text.status().message());
    }
  }
  return result;
}

}  // namespace ghostpeer::agent
