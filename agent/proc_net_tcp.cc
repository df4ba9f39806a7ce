#include "agent/proc_net_tcp.h"

#include <sys/socket.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/inet_address.h"

namespace ghostpeer::agent {
namespace {

// The kernel prints clock_t ticks (USER_HZ, 100 per second on Linux).
constexpr uint32_t kMillisPerTick = 10;

bool ParseHex32(absl::string_view text, uint32_t* value) {
  if (text.empty() || text.size() > 8) return false;
  uint32_t result = 0;
  for (char c : text) {
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    result = result << 4 | digit;
  }
  *value = result;
  return true;
}

// "0100007F:0277" -> ("127.0.0.1", 631). The words are memcpy'd as printed:
// the kernel formatted the in-memory (network order) address as host ints.
bool ParseEndpoint(absl::string_view text, int family, std::string* address,
                   uint32_t* port) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return false;
  const absl::string_view hex = text.substr(0, colon);
  const size_t words = family == AF_INET ? 1 : 4;
  if (hex.size() != words * 8) return false;
  uint8_t bytes[16];
  for (size_t i = 0; i < words; ++i) {
    uint32_t word;
    if (!ParseHex32(hex.substr(i * 8, 8), &word)) return false;
    std::memcpy(bytes + i * 4, &word, 4);
  }
  if (!ParseHex32(text.substr(colon + 1), port) || *port > 0xFFFF) return false;
  *address = FormatInetAddress(family, absl::MakeConstSpan(bytes, words * 4));
  return !address->empty();
}

bool ParsePair(absl::string_view text, uint32_t* first, uint32_t* second) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  return ParseHex32(parts.first, first) && ParseHex32(parts.second, second);
}

bool PeerClosedByState(v1::TcpState state) {
  return state == v1::TCP_STATE_CLOSE_WAIT || state == v1::TCP_STATE_LAST_ACK ||
         state == v1::TCP_STATE_CLOSING || state == v1::TCP_STATE_TIME_WAIT;
}

// The fields TCP and UDP lines share: sl local rem st tx:rx tr:when
// retrnsmt uid timeout inode. `retransmits` and `probes` are TCP's
// (always 0 for UDP).
struct CommonFields {
  std::string local_ip, remote_ip;
  uint32_t local_port, remote_port, state, tx, rx, timer, when, retransmits;
  uint32_t uid, probes;
  uint64_t inode;
};

bool ParseCommon(const std::vector<absl::string_view>& fields, int family,
                 CommonFields* out) {
  return fields.size() >= 10 && absl::EndsWith(fields[0], ":") &&
         ParseEndpoint(fields[1], family, &out->local_ip, &out->local_port) &&
         ParseEndpoint(fields[2], family, &out->remote_ip, &out->remote_port) &&
         ParseHex32(fields[3], &out->state) &&
         ParsePair(fields[4], &out->tx, &out->rx) &&
         ParsePair(fields[5], &out->timer, &out->when) &&
         ParseHex32(fields[6], &out->retransmits) &&
         absl::SimpleAtoi(fields[7], &out->uid) &&
         absl::SimpleAtoi(fields[8], &out->probes) &&
         absl::SimpleAtoi(fields[9], &out->inode);
}

void SetCommon(CommonFields& common, v1::Protocol protocol,
               v1::SocketRecord* record) {
  record->set_source(v1::CAPTURE_SOURCE_PROC_NET_TCP);
  record->set_protocol(protocol);
  record->set_local_ip(std::move(common.local_ip));
  record->set_local_port(common.local_port);
  record->set_remote_ip(std::move(common.remote_ip));
  record->set_remote_port(common.remote_port);
  if (v1::TcpState_IsValid(static_cast<int>(common.state))) {
    record->set_state(static_cast<v1::TcpState>(common.state));
  }
  record->set_send_queue(common.tx);
  record->set_recv_queue(common.rx);
  record->set_uid(common.uid);
  record->set_inode(common.inode);
}

// One TCP line: the common fields, then [refcnt sk rto ato qack cwnd
// ssthresh] (absent for TIME_WAIT and request sockets).
bool ParseTcpLine(const std::vector<absl::string_view>& fields, int family,
                  v1::SocketRecord* record) {
  CommonFields common;
  if (!ParseCommon(fields, family, &common)) return false;
  SetCommon(common, v1::PROTOCOL_TCP, record);
  record->set_timer(common.timer);
  record->set_timer_expires_ms(
      common.timer == 0 ? 0 : common.when * kMillisPerTick);
  record->set_peer_closed(PeerClosedByState(record->state()));
  v1::TcpInfo* info = record->mutable_tcp_info();
  info->set_retransmits(common.retransmits);
  info->set_probes(common.probes);
  uint32_t rto_ticks, cwnd;
  if (fields.size() >= 17 && absl::SimpleAtoi(fields[12], &rto_ticks) &&
      absl::SimpleAtoi(fields[15], &cwnd)) {
    info->set_rto_us(rto_ticks * kMillisPerTick * 1000);
    info->set_snd_cwnd(cwnd);
  }
  return true;
}

enum class LineResult { kKept, kSkipped, kMalformed };

// One UDP line: the common fields, then ref pointer drops.
LineResult ParseUdpLine(const std::vector<absl::string_view>& fields,
                        int family, v1::SocketRecord* record) {
  CommonFields common;
  if (!ParseCommon(fields, family, &common)) return LineResult::kMalformed;
  // 01: connect() made it ESTABLISHED. Port 0 or a wildcard address is no
  // peer a datagram can reach.
  if (common.state != v1::TCP_STATE_ESTABLISHED || common.remote_port == 0 ||
      common.remote_ip == "0.0.0.0" || common.remote_ip == "::") {
    return LineResult::kSkipped;
  }
  SetCommon(common, v1::PROTOCOL_UDP, record);
  return LineResult::kKept;
}

// Splits `content` into lines without the header and calls
// `parse(fields, record)` for each.
template <typename Parse>
ProcNetTcpResult ParseLines(absl::string_view content, Parse parse) {
  ProcNetTcpResult result;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (header) {  // "sl  local_address rem_address ..."
      header = false;
      if (absl::StartsWith(line, "sl")) continue;
    }
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    v1::SocketRecord record;
    switch (parse(fields, &record)) {
      case LineResult::kKept:
        result.records.push_back(std::move(record));
        break;
      case LineResult::kSkipped:
        ++result.unconnected_skipped;
        break;
      case LineResult::kMalformed:
        ++result.malformed_lines;
        break;
    }
  }
  return result;
}

absl::Status CheckFamily(int family, absl::string_view file) {
  if (family == AF_INET || family == AF_INET6) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("/proc/net/", file, " parser: unsupported family ", family));
}

}  // namespace

absl::StatusOr<ProcNetTcpResult> ParseProcNetTcp(absl::string_view content,
                                                 int family) {
  absl::Status status = CheckFamily(family, "tcp");
  if (!status.ok()) return status;
  return ParseLines(
      content, [family](const auto& fields, v1::SocketRecord* record) {
        return ParseTcpLine(fields, family, record) ? LineResult::kKept
                                                    : LineResult::kMalformed;
      });
}

absl::StatusOr<ProcNetTcpResult> ParseProcNetUdp(absl::string_view content,
                                                 int family) {
  absl::Status status = CheckFamily(family, "udp");
  if (!status.ok()) return status;
  return ParseLines(content,
                    [family](const auto& fields, v1::SocketRecord* record) {
                      return ParseUdpLine(fields, family, record);
                    });
}

}  // namespace ghostpeer::agent
