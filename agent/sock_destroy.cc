#include "agent/sock_destroy.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/inet_address.h"
#include "agent/netlink.h"
#include "agent/netlink_socket.h"
#include "agent/rtnetlink.h"
#include "agent/sock_diag.h"
#include "common/utf8.h"

namespace ghostpeer::agent {
namespace {

static_assert(kSockDestroy == SOCK_DESTROY, "linux/sock_diag.h disagrees");

constexpr int32_t kMaxErrno = 4095;

// A parsed address; IPv4-mapped IPv6 is folded to IPv4 (the kernel looks
// such sockets up by their IPv4 addresses).
struct ParsedAddress {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
};

std::optional<ParsedAddress> ParseAddress(const std::string& text) {
  // inet_pton needs a terminated string: an embedded NUL would cut it short
  // and accept "10.0.0.1\0junk".
  if (text.empty() || text.size() > INET6_ADDRSTRLEN ||
      text.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  ParsedAddress address;
  if (inet_pton(AF_INET, text.c_str(), address.bytes.data()) == 1) {
    address.family = AF_INET;
    return address;
  }
  if (inet_pton(AF_INET6, text.c_str(), address.bytes.data()) != 1) {
    return std::nullopt;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes.data(), kMapped, sizeof(kMapped)) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    address.family = AF_INET;
  } else {
    address.family = AF_INET6;
  }
  return address;
}

std::string Format(const ParsedAddress& address) {
  return FormatInetAddress(
      address.family, absl::MakeConstSpan(address.bytes.data(),
                                          address.family == AF_INET ? 4 : 16));
}

bool IsUnspecified(const ParsedAddress& address) {
  for (uint8_t byte : address.bytes) {
    if (byte != 0) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view field, absl::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "remediation order: bad ", field, " '", EscapeForLog(value, 64), "'"));
}

std::vector<uint8_t> BuildExactRequest(const RemediationTarget& target,
                                       uint16_t type, uint16_t flags,
                                       uint32_t seq) {
  inet_diag_req_v2 request;
  std::memset(&request, 0, sizeof(request));
  request.sdiag_family = static_cast<uint8_t>(target.family);
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_states = kAllTcpStates;
  request.id.idiag_sport = htons(target.local_port);
  request.id.idiag_dport = htons(target.remote_port);
  const size_t size = target.family == AF_INET ? 4 : 16;
  std::memcpy(request.id.idiag_src, target.local.data(), size);
  std::memcpy(request.id.idiag_dst, target.remote.data(), size);
  request.id.idiag_cookie[0] = static_cast<uint32_t>(target.cookie);
  request.id.idiag_cookie[1] = static_cast<uint32_t>(target.cookie >> 32);

  return BuildNetlinkRequest(type, flags, seq, request);
}

Verdict Refuse(std::string detail) {
  return {v1::REMEDIATION_REFUSED, std::move(detail), 0};
}

std::string Tuple(const RemediationTarget& t) {
  return absl::StrCat(t.local_ip, ":", t.local_port, " -> ", t.remote_ip, ":",
                      t.remote_port);
}

// Sends one request on `socket` and reads until its answer.
absl::StatusOr<SockDiagSingleReply> Ask(NetlinkSocket& socket,
                                        const std::vector<uint8_t>& request,
                                        uint32_t seq) {
  SockDiagSingleReply reply;
  absl::Status status = socket.Dump(
      request, seq,
      [&reply](absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
               bool* done) {
        absl::Status parsed =
            ParseSockDiagSingleReplyInto(buffer, expect, &reply);
        *done = reply.complete;
        return parsed;
      },
      /*max_datagrams=*/16);
  if (!status.ok()) return status;
  return reply;
}

}  // namespace

std::string CanonicalInetAddress(const std::string& text) {
  std::optional<ParsedAddress> parsed = ParseAddress(text);
  return parsed ? Format(*parsed) : "";
}

absl::StatusOr<RemediationTarget> ParseRemediationOrder(
    const v1::RemediationOrder& order) {
  RemediationTarget target;
  if (order.order_id().empty() || order.order_id().size() > kMaxOrderIdLength ||
      !IsValidUtf8(order.order_id())) {
    return Invalid("order_id", order.order_id());
  }
  if (order.finding_id().size() > kMaxFindingIdLength ||
      !IsValidUtf8(order.finding_id())) {
    return Invalid("finding_id", order.finding_id());
  }
  target.order_id = order.order_id();
  if (order.netns_inode() == 0) return Invalid("netns_inode", "0");
  target.netns_inode = order.netns_inode();
  const v1::SocketKey& key = order.socket();
  // The key's namespace, when given, must be the order's: an order that
  // contradicts itself is not acted on.
  if (key.netns_inode() != 0 && key.netns_inode() != order.netns_inode()) {
    return Invalid("socket.netns_inode", absl::StrCat(key.netns_inode()));
  }
  std::optional<ParsedAddress> local = ParseAddress(key.local_ip());
  if (!local) return Invalid("socket.local_ip", key.local_ip());
  std::optional<ParsedAddress> remote = ParseAddress(key.remote_ip());
  if (!remote) return Invalid("socket.remote_ip", key.remote_ip());
  if (local->family != remote->family) {
    return Invalid("socket address families",
                   absl::StrCat(key.local_ip(), " vs ", key.remote_ip()));
  }
  if (key.local_port() == 0 || key.local_port() > 65535) {
    return Invalid("socket.local_port", absl::StrCat(key.local_port()));
  }
  if (key.remote_port() == 0 || key.remote_port() > 65535) {
    return Invalid("socket.remote_port", absl::StrCat(key.remote_port()));
  }
  if (key.inode() == 0) return Invalid("socket.inode", "0");
  if (order.cookie() == 0) return Invalid("cookie", "0");
  std::optional<ParsedAddress> peer = ParseAddress(order.peer_ip());
  if (!peer) return Invalid("peer_ip", order.peer_ip());
  target.family = local->family;
  target.local = local->bytes;
  target.remote = remote->bytes;
  target.local_ip = Format(*local);
  target.remote_ip = Format(*remote);
  target.local_port = static_cast<uint16_t>(key.local_port());
  target.remote_port = static_cast<uint16_t>(key.remote_port());
  target.inode = key.inode();
  target.cookie = order.cookie();
  target.peer_ip = Format(*peer);
  target.dry_run = order.dry_run();
  return target;
}

std::vector<uint8_t> BuildSocketQueryRequest(const RemediationTarget& target,
                                             uint32_t seq) {
  return BuildExactRequest(target, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq);
}

std::vector<uint8_t> BuildSockDestroyRequest(const RemediationTarget& target,
                                             uint32_t seq) {
  return BuildExactRequest(target, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK,
                           seq);
}

absl::Status ParseSockDiagSingleReplyInto(absl::Span<const uint8_t> buffer,
                                          const NetlinkExpect& expect,
                                          SockDiagSingleReply* reply) {
  // Not WalkNetlinkMessages: it turns an NLMSG_ERROR into a Status, and the
  // outcome must carry the kernel's errno itself (ENOENT and ESTALE mean
  // different things here).
  size_t offset = 0;
  while (offset < buffer.size() && !reply->complete) {
    const size_t remaining = buffer.size() - offset;
    nlmsghdr header;
    if (remaining < sizeof(header)) {
      return absl::DataLossError("sock_diag reply: trailing bytes");
    }
    std::memcpy(&header, buffer.data() + offset, sizeof(header));
    if (header.nlmsg_len < sizeof(header) || header.nlmsg_len > remaining) {
      return absl::DataLossError(
          absl::StrCat("sock_diag reply: message claims ", header.nlmsg_len,
                       " bytes, ", remaining, " left"));
    }
    const absl::Span<const uint8_t> whole =
        buffer.subspan(offset, header.nlmsg_len);
    offset += std::min(NetlinkAlign(header.nlmsg_len), remaining);
    if ((expect.seq != 0 && header.nlmsg_seq != expect.seq) ||
        (expect.port_id != 0 && header.nlmsg_pid != expect.port_id)) {
      ++reply->foreign_messages;
      continue;
    }
    if (header.nlmsg_type == NLMSG_NOOP) continue;
    if (header.nlmsg_type == NLMSG_ERROR) {
      int32_t error = 0;
      if (whole.size() < NLMSG_HDRLEN + sizeof(error)) {
        return absl::DataLossError("sock_diag reply: NLMSG_ERROR without code");
      }
      std::memcpy(&error, whole.data() + NLMSG_HDRLEN, sizeof(error));
      if (error > 0 || error < -kMaxErrno) {
        return absl::DataLossError(
            absl::StrCat("sock_diag reply: code ", error, " is no errno"));
      }
      reply->error = -error;
      reply->complete = true;
      continue;
    }
    if (header.nlmsg_type != SOCK_DIAG_BY_FAMILY) {
      return absl::DataLossError(absl::StrCat(
          "sock_diag reply: unexpected message type ", header.nlmsg_type));
    }
    SockDiagParseResult parsed;
    absl::Status status = ParseSockDiagMessagesInto(whole, expect, &parsed);
    if (!status.ok()) return status;
    if (parsed.records.size() != 1) {
      return absl::DataLossError("sock_diag reply: record too short");
    }
    reply->record = std::move(parsed.records[0]);
    reply->complete = true;
  }
  return absl::OkStatus();
}

std::optional<Verdict> JudgePeerAddress(const RemediationTarget& target) {
  for (const std::string* address : {&target.peer_ip, &target.remote_ip}) {
    if (IsLoopbackAddress(*address)) {
      return Refuse(absl::StrCat("loopback peer ", *address,
                                 " is local to the node, never a ghost"));
    }
    std::optional<ParsedAddress> parsed = ParseAddress(*address);
    if (!parsed || IsUnspecified(*parsed)) {
      return Refuse(absl::StrCat("unspecified peer address ", *address));
    }
  }
  return std::nullopt;
}

std::optional<Verdict> JudgeSocketLookup(const RemediationTarget& target,
                                         const SocketLookup& lookup) {
  if (!lookup.namespace_found) {
    return Verdict{v1::REMEDIATION_ALREADY_GONE,
                   absl::StrCat("namespace ", target.netns_inode,
                                " no longer exists on this node"),
                   0};
  }
  if (lookup.error == ENOENT) {
    return Verdict{v1::REMEDIATION_ALREADY_GONE,
                   absl::StrCat("no socket ", Tuple(target), " any more"), 0};
  }
  if (lookup.error == ESTALE) {
    return Verdict{v1::REMEDIATION_ALREADY_GONE,
                   absl::StrCat("another socket holds ", Tuple(target),
                                " now (cookie differs)"),
                   0};
  }
  if (lookup.error != 0) {
    return Verdict{v1::REMEDIATION_FAILED,
                   absl::StrCat("looking up ", Tuple(target), ": ",
                                std::strerror(lookup.error)),
                   lookup.error};
  }
  if (!lookup.record.has_value()) {
    return Verdict{v1::REMEDIATION_FAILED, "the kernel answered nothing", 0};
  }
  const v1::SocketRecord& record = *lookup.record;
  // The kernel matched the cookie already (ESTALE otherwise); a kernel that
  // ignored it answered for whatever holds the tuple now, which is not the
  // socket the order names.
  if (record.cookie() != target.cookie) {
    return Verdict{v1::REMEDIATION_ALREADY_GONE,
                   absl::StrCat("the socket at ", Tuple(target), " has cookie ",
                                record.cookie(), ", not ", target.cookie),
                   0};
  }
  if (CanonicalInetAddress(record.local_ip()) != target.local_ip ||
      CanonicalInetAddress(record.remote_ip()) != target.remote_ip ||
      record.local_port() != target.local_port ||
      record.remote_port() != target.remote_port) {
    // A reply naming another tuple is a kernel (or a hostile reply) we do
    // not understand: do not act.
    return Refuse(absl::StrCat(
        "the kernel answered for ", EscapeForLog(record.local_ip(), 64), ":",
        record.local_port(), " -> ", EscapeForLog(record.remote_ip(), 64), ":",
        record.remote_port(), ", not ", Tuple(target)));
  }
  if (record.inode() != target.inode) {
    return Refuse(absl::StrCat("socket inode is ", record.inode(),
                               ", the order names ", target.inode));
  }
  if (record.state() == v1::TCP_STATE_LISTEN) {
    return Refuse("the socket is listening");
  }
  return std::nullopt;
}

std::optional<Verdict> JudgeAddressScan(const RemediationTarget& target,
                                        const AddressScan& scan) {
  if (!scan.holders.empty()) {
    return Refuse(absl::StrCat("peer ", target.peer_ip,
                               " is held on this node by namespace ",
                               absl::StrJoin(scan.holders, ", ")));
  }
  if (!scan.unreadable.empty()) {
    return Refuse(absl::StrCat(
        "cannot tell whether peer ", target.peer_ip,
        " is held on this node: ", absl::StrJoin(scan.unreadable, "; ")));
  }
  return std::nullopt;
}

Verdict JudgeDestroy(const RemediationTarget& target, int error) {
  switch (error) {
    case 0:
      return {v1::REMEDIATION_DESTROYED,
              absl::StrCat("destroyed ", Tuple(target)), 0};
    case ENOENT:
    case ESTALE:
      // Gone between the check and the destroy (or its tuple reused).
      return {v1::REMEDIATION_ALREADY_GONE,
              absl::StrCat("socket ", Tuple(target), " went away first"), 0};
    case EPERM:
      return {v1::REMEDIATION_FAILED,
              "SOCK_DESTROY: permission denied (the agent needs "
              "CAP_NET_ADMIN)",
              error};
    case EOPNOTSUPP:
      return {v1::REMEDIATION_FAILED,
              "SOCK_DESTROY is not supported by this kernel "
              "(CONFIG_INET_DIAG_DESTROY)",
              error};
    default:
      return {v1::REMEDIATION_FAILED,
              absl::StrCat("SOCK_DESTROY: ", std::strerror(error)), error};
  }
}

NamespaceLister NodeNamespaceLister(NamespaceListOptions options,
                                    std::vector<std::string> netns_only) {
  return [options = std::move(options), netns_only = std::move(netns_only)]()
             -> absl::StatusOr<std::vector<NetnsEntry>> {
    absl::StatusOr<NamespaceListing> listing = ListNamespaces(options);
    if (!listing.ok()) return listing.status();
    std::vector<NetnsEntry> kept;
    for (NetnsEntry& entry : listing->namespaces) {
      bool keep = netns_only.empty();
      for (const std::string& glob : netns_only) {
        if (fnmatch(glob.c_str(), entry.netns_name.c_str(), 0) == 0) {
          keep = true;
        }
      }
      if (keep) kept.push_back(std::move(entry));
    }
    return kept;
  };
}

absl::StatusOr<std::unique_ptr<LinuxRemediationHost>>
LinuxRemediationHost::Create(NamespaceLister lister) {
  if (!lister) return absl::InvalidArgumentError("no namespace lister");
  absl::StatusOr<std::unique_ptr<NamespaceWorker>> worker =
      NamespaceWorker::Create();
  if (!worker.ok()) return worker.status();
  return std::unique_ptr<LinuxRemediationHost>(
      new LinuxRemediationHost(std::move(lister), std::move(*worker)));
}

absl::StatusOr<std::optional<NetnsEntry>> LinuxRemediationHost::FindNamespace(
    uint64_t inode) {
  absl::StatusOr<std::vector<NetnsEntry>> namespaces = lister_();
  if (!namespaces.ok()) return namespaces.status();
  for (NetnsEntry& entry : *namespaces) {
    if (entry.key.inode == inode) return std::move(entry);
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<SockDiagSingleReply>>
LinuxRemediationHost::AskInNamespace(
    const RemediationTarget& target,
    std::vector<uint8_t> (*build)(const RemediationTarget&, uint32_t)) {
  absl::StatusOr<std::optional<NetnsEntry>> entry =
      FindNamespace(target.netns_inode);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::nullopt;
  const NetnsEntry& ns = **entry;
  SockDiagSingleReply reply;
  bool entered = false;
  absl::Status status =
      worker_->RunIn(ns.is_own ? "" : ns.path, [&]() -> absl::Status {
        entered = true;
        // A diag socket answers for (and SOCK_DESTROY acts in) the
        // namespace it was created in: create it in there.
        absl::StatusOr<NetlinkSocket> diag =
            NetlinkSocket::Open(NETLINK_SOCK_DIAG, absl::Seconds(2));
        if (!diag.ok()) return diag.status();
        const uint32_t seq = diag->NextSeq();
        absl::StatusOr<SockDiagSingleReply> answer =
            Ask(*diag, build(target, seq), seq);
        if (!answer.ok()) return answer.status();
        reply = std::move(*answer);
        return absl::OkStatus();
      });
  // Its handle vanished between the listing and now: the namespace is gone.
  if (!entered && absl::IsNotFound(status)) return std::nullopt;
  if (!status.ok()) return status;
  return reply;
}

absl::StatusOr<SocketLookup> LinuxRemediationHost::LookUp(
    const RemediationTarget& target) {
  absl::StatusOr<std::optional<SockDiagSingleReply>> reply =
      AskInNamespace(target, &BuildSocketQueryRequest);
  if (!reply.ok()) return reply.status();
  SocketLookup lookup;
  if (!reply->has_value()) {
    lookup.namespace_found = false;
    return lookup;
  }
  lookup.error = (*reply)->error;
  lookup.record = std::move((*reply)->record);
  return lookup;
}

absl::StatusOr<int> LinuxRemediationHost::Destroy(
    const RemediationTarget& target) {
  absl::StatusOr<std::optional<SockDiagSingleReply>> reply =
      AskInNamespace(target, &BuildSockDestroyRequest);
  if (!reply.ok()) return reply.status();
  if (!reply->has_value()) return ENOENT;  // the namespace went away
  if ((*reply)->record.has_value()) {
    return absl::DataLossError("SOCK_DESTROY answered with a record");
  }
  return (*reply)->error;
}

absl::StatusOr<AddressScan> LinuxRemediationHost::FindHolders(
    const std::string& address) {
  absl::StatusOr<std::vector<NetnsEntry>> namespaces = lister_();
  if (!namespaces.ok()) return namespaces.status();
  AddressScan scan;
  for (const NetnsEntry& ns : *namespaces) {
    const std::string name = absl::StrCat(
        "inode ", ns.key.inode,
        ns.netns_name.empty()
            ? ""
            : absl::StrCat(" (", EscapeForLog(ns.netns_name, 64), ")"));
    bool holds = false;
    bool entered = false;
    absl::Status status =
        worker_->RunIn(ns.is_own ? "" : ns.path, [&]() -> absl::Status {
          entered = true;
          absl::StatusOr<NetlinkSocket> route =
              NetlinkSocket::Open(NETLINK_ROUTE, absl::Seconds(2));
          if (!route.ok()) return route.status();
          absl::StatusOr<RtnetlinkDump> dump = DumpInterfaceAddresses(*route);
          if (!dump.ok()) return dump.status();
          for (const RawInterfaceAddress& held : dump->addresses) {
            if (CanonicalInetAddress(held.address) == address) holds = true;
          }
          if (dump->dump_interrupted && !holds) {
            return absl::UnavailableError(
                "address list changed during every dump");
          }
          return absl::OkStatus();
        });
    if (holds) {
      scan.holders.push_back(name);
    } else if (!status.ok()) {
      // A namespace that vanished since the listing holds nothing now.
      if (!entered && absl::IsNotFound(status)) continue;
      scan.unreadable.push_back(absl::StrCat(name, ": ", status.message()));
    }
  }
  return scan;
}

RemediationExecutor::RemediationExecutor(RemediationExecutorOptions options,
                                         RemediationHost* host)
    : options_(std::move(options)), host_(host) {}

std::string RemediationExecutor::refusal() const {
  if (enabled()) return "";
  if (!options_.refusal.empty()) return options_.refusal;
  return "remediation is disabled on this agent";
}

Verdict RemediationExecutor::Decide(const v1::RemediationOrder& order) {
  if (!enabled()) return Refuse(refusal());
  absl::StatusOr<RemediationTarget> target = ParseRemediationOrder(order);
  if (!target.ok()) return Refuse(std::string(target.status().message()));
  if (auto verdict = JudgePeerAddress(*target)) return *verdict;

  absl::StatusOr<SocketLookup> lookup = host_->LookUp(*target);
  if (!lookup.ok()) {
    return {v1::REMEDIATION_FAILED,
            absl::StrCat("looking up the socket: ", lookup.status().message()),
            0};
  }
  if (auto verdict = JudgeSocketLookup(*target, *lookup)) return *verdict;

  absl::StatusOr<AddressScan> scan = host_->FindHolders(target->peer_ip);
  if (!scan.ok()) {
    return Refuse(absl::StrCat("cannot list this node's namespaces: ",
                               scan.status().message()));
  }
  if (auto verdict = JudgeAddressScan(*target, *scan)) return *verdict;

  if (target->dry_run) {
    return {v1::REMEDIATION_WOULD_DESTROY,
            absl::StrCat("dry run: would destroy ", Tuple(*target)), 0};
  }
  absl::StatusOr<int> error = host_->Destroy(*target);
  if (!error.ok()) {
    return {v1::REMEDIATION_FAILED,
            absl::StrCat("SOCK_DESTROY: ", error.status().message()), 0};
  }
  return JudgeDestroy(*target, *error);
}

v1::RemediationOutcome RemediationExecutor::Execute(
    const v1::RemediationOrder& order) {
  absl::MutexLock lock(&mu_);
  const Verdict verdict = Decide(order);
  v1::RemediationOutcome outcome;
  // The id is echoed so the aggregator can match it; cut and repaired so a
  // hostile one cannot make our answer invalid.
  outcome.set_order_id(
      RepairUtf8(order.order_id().substr(0, kMaxOrderIdLength)));
  outcome.set_outcome(verdict.kind);
  outcome.set_detail(RepairUtf8(verdict.detail.substr(0, 1024)));
  outcome.set_error_number(verdict.error_number);
  *outcome.mutable_at() = ToProto(options_.clock->Now());
  return outcome;
}

}  // namespace ghostpeer::agent
