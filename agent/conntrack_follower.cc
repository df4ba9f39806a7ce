#include "agent/conntrack_follower.h"

#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/proc_fs.h"
#include "common/errno_status.h"

namespace ghostpeer::agent {
namespace {

// An event datagram holds one message of a few hundred bytes; anything
// longer than this is cut (MSG_TRUNC says so) and treated as lost.
constexpr size_t kDatagramBuffer = 64 * 1024;

class NetlinkConntrackEvents final : public ConntrackEventSource {
 public:
  explicit NetlinkConntrackEvents(int fd) : fd_(fd), buffer_(kDatagramBuffer) {}
  ~NetlinkConntrackEvents() override { close(fd_); }
  NetlinkConntrackEvents(const NetlinkConntrackEvents&) = delete;
  NetlinkConntrackEvents& operator=(const NetlinkConntrackEvents&) = delete;

  absl::Status Drain(
      size_t max_datagrams,
      const std::function<absl::Status(absl::Span<const uint8_t>)>& on_datagram)
      override {
    for (size_t i = 0; i < max_datagrams; ++i) {
      sockaddr_nl from = {};
      socklen_t from_length = sizeof(from);
      const ssize_t got = recvfrom(
          fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC,
          reinterpret_cast<sockaddr*>(&from), &from_length);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {
          return absl::ResourceExhaustedError(
              "conntrack events lost: the receive buffer overflowed");
        }
        return ErrnoToStatus(errno, "recvfrom() of conntrack events");
      }
      if (static_cast<size_t>(got) > buffer_.size()) {
        return absl::DataLossError(
            absl::StrCat("a conntrack event datagram of ", got,
                         " bytes was cut to ", buffer_.size()));
      }
      // Only the kernel speaks for the table (a process with CAP_NET_ADMIN
      // in the namespace may send to the group too).
      if (from.nl_family != AF_NETLINK || from.nl_pid != 0) continue;
      absl::Status status = on_datagram(
          absl::MakeConstSpan(buffer_.data(), static_cast<size_t>(got)));
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

 private:
  int fd_;
  std::vector<uint8_t> buffer_;
};

}  // namespace

void ConntrackFlowTable::Reset(const std::vector<Translation>& flows) {
  flows_.clear();
  for (const Translation& flow : flows) {
    if (flow.translator != Translator::kConntrack) continue;
    flows_[Key(flow.protocol, flow.client_ip, flow.client_port, flow.service_ip,
               flow.service_port)] = flow;
  }
}

void ConntrackFlowTable::Apply(const ConntrackEvent& event) {
  const Translation& flow = event.flow;
  Key key(flow.protocol, flow.client_ip, flow.client_port, flow.service_ip,
          flow.service_port);
  if (event.kind == ConntrackEvent::Kind::kNew) {
    flows_[std::move(key)] = flow;
    return;
  }
  auto it = flows_.find(key);
  if (it != flows_.end() && it->second.backend_ip == flow.backend_ip &&
      it->second.backend_port == flow.backend_port) {
    flows_.erase(it);
  }
}

absl::Status ConntrackFlowTable::ApplyDatagram(absl::Span<const uint8_t> bytes,
                                               size_t* applied) {
  std::vector<ConntrackEvent> events;
  absl::Status status = ParseConntrackEvents(bytes, &events);
  for (const ConntrackEvent& event : events) Apply(event);
  if (applied != nullptr) *applied += events.size();
  return status;
}

std::vector<Translation> ConntrackFlowTable::Flows() const {
  std::vector<Translation> flows;
  flows.reserve(flows_.size());
  for (const auto& [key, flow] : flows_) flows.push_back(flow);
  return flows;
}

absl::StatusOr<std::unique_ptr<ConntrackEventSource>> SubscribeConntrackEvents(
    const std::string& proc_root, size_t receive_buffer) {
  // With nf_conntrack_events 0 the kernel sends nothing: a follower would
  // see an unchanging table. (1 and 2 send to listeners; see the header for
  // what 2 means for entries older than us.)
  absl::StatusOr<std::string> events =
      ReadSmallFile(proc_root + "/sys/net/netfilter/nf_conntrack_events", 64);
  if (!events.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("conntrack events unknown: ", events.status().message()));
  }
  if (absl::StripAsciiWhitespace(*events) == "0") {
    return absl::FailedPreconditionError(
        "conntrack events are off (net.netfilter.nf_conntrack_events = 0)");
  }
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return ErrnoToStatus(errno, "socket(NETLINK_NETFILTER)");
  auto source = std::make_unique<NetlinkConntrackEvents>(fd);
  // A burst of connections between two snapshots must not overflow it; the
  // default (~200 KiB) holds a few hundred events. Without CAP_NET_ADMIN
  // FORCE fails and rmem_max caps SO_RCVBUF (then ENOBUFS means a resync).
  const int size = static_cast<int>(receive_buffer);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) {
    return ErrnoToStatus(errno, "setsockopt(SO_RCVBUF) of conntrack events");
  }
  sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoToStatus(errno, "bind() of conntrack events");
  }
  // Joining nfnetlink's groups needs CAP_NET_ADMIN (EPERM otherwise).
  for (int group : {NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY}) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                   sizeof(group)) != 0) {
      return ErrnoToStatus(
          errno, absl::StrCat("joining conntrack event group ", group));
    }
  }
  return std::unique_ptr<ConntrackEventSource>(std::move(source));
}

ConntrackFollower::ConntrackFollower(
    std::unique_ptr<ConntrackEventSource> events,
    std::function<NamespaceTranslations()> full_read,
    std::function<NamespaceTranslations()> ipvs_read,
    ConntrackFollowerOptions options)
    : events_source_(std::move(events)),
      full_read_(std::move(full_read)),
      ipvs_read_(std::move(ipvs_read)),
      options_(options) {}

absl::Status ConntrackFollower::Drain() {
  size_t applied = 0;
  absl::Status status = events_source_->Drain(
      options_.max_datagrams_per_read, [&](absl::Span<const uint8_t> datagram) {
        return table_.ApplyDatagram(datagram, &applied);
      });
  events_ += applied;
  return status;
}

NamespaceTranslations ConntrackFollower::Read() {
  bool resync = needs_resync_ || (options_.resync_every > 0 &&
                                  reads_since_resync_ >= options_.resync_every);
  // Events first: if some were lost, the resync below covers them.
  if (!resync && !Drain().ok()) resync = true;
  NamespaceTranslations result;
  if (resync) {
    // The subscription is older than this read, so every change after the
    // read is queued; events older than it that are still queued are
    // applied on top, which converges: for each original tuple the last
    // event wins, as it did in the kernel.
    result = full_read_();
    table_.Reset(result.flows);
    ++resyncs_;
    reads_since_resync_ = 0;
    // An incomplete read (a cap, a failed dump) is no base to follow from.
    needs_resync_ = !result.error.empty();
    // Lost again: the table is the read's plus what came through; the next
    // read resyncs.
    if (!Drain().ok()) needs_resync_ = true;
    std::vector<Translation> ipvs;
    for (Translation& flow : result.flows) {
      if (flow.translator != Translator::kConntrack) {
        ipvs.push_back(std::move(flow));
      }
    }
    result.flows = std::move(ipvs);
  } else {
    result = ipvs_read_();
  }
  ++reads_since_resync_;
  std::vector<Translation> flows = table_.Flows();
  flows.insert(flows.end(), std::make_move_iterator(result.flows.begin()),
               std::make_move_iterator(result.flows.end()));
  result.flows = std::move(flows);
  return result;
}

}  // namespace ghostpeer::agent
