#include "common/story.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/human_bytes.h"
#include "common/names.h"
#include "common/time_util.h"

namespace ghostpeer {
namespace {

bool HasContainerIdentity(const v1::SocketRecord& socket) {
  return !socket.task().empty() || !socket.container_name().empty() ||
         !socket.service().empty();
}

// False for an absent Timestamp and for the zero one, which proto3 cannot
// tell from absent.
bool IsSet(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() != 0 || timestamp.nanos() != 0;
}

// ", which belonged to gpx-srv.1 until 12:03:04 UTC", or "" when the
// finding does not say who held the peer.
std::string LastOwnerClause(const v1::Finding& finding,
                            const StoryContext& context) {
  if (!finding.has_peer_last_owner()) return "";
  const std::string owner = ShortTaskName(OwnerName(finding.peer_last_owner()));
  if (owner.empty()) return "";
  std::string clause = absl::StrCat(", which belonged to ", owner);
  if (IsSet(finding.peer_last_owner().until())) {
    absl::StrAppend(
        &clause, " until ",
        StoryTime(FromProto(finding.peer_last_owner().until()), context));
  }
  return clause;
}

std::string AtRisk(const v1::Finding& finding) {
  if (finding.bytes_at_risk() == 0) return "nothing queued yet";
  return absl::StrCat(HumanBytes(finding.bytes_at_risk()), " at risk");
}

}  // namespace

std::string StoryTime(absl::Time time, const StoryContext& context) {
  const bool today = absl::ToCivilDay(time, context.zone) ==
                     absl::ToCivilDay(context.now, context.zone);
  return absl::FormatTime(today ? "%H:%M:%S %Z" : "%Y-%m-%d %H:%M:%S %Z", time,
                          context.zone);
}

std::string Endpoint(absl::string_view ip, uint32_t port) {
  if (ip.empty()) return "-";
  if (port == 0) return std::string(ip);
  if (absl::StrContains(ip, ':')) return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

std::string ClientName(const v1::SocketRecord& socket) {
  if (!socket.task().empty()) return socket.task();
  if (!socket.container_name().empty()) return socket.container_name();
  if (!socket.service().empty()) return socket.service();
  if (socket.netns_inode() != 0) {
    return absl::StrCat("netns:", socket.netns_inode());
  }
  return "host";
}

std::string StoryClient(const v1::SocketRecord& socket) {
  if (HasContainerIdentity(socket) ||
      (socket.comm().empty() && socket.pid() == 0)) {
    return ShortTaskName(ClientName(socket));
  }
  std::string client;
  if (socket.comm().empty()) {
    client = absl::StrCat("pid ", socket.pid());
  } else if (socket.pid() == 0) {
    client = socket.comm();
  } else {
    client = absl::StrCat(socket.comm(), " (pid ", socket.pid(), ")");
  }
  if (socket.netns_inode() != 0) {
    absl::StrAppend(&client, " in netns:", socket.netns_inode());
  }
  return client;
}

std::string ProcessName(const v1::SocketRecord& socket) {
  if (socket.pid() != 0 && !socket.comm().empty()) {
    return absl::StrCat(socket.comm(), "/", socket.pid());
  }
  if (!socket.comm().empty()) return socket.comm();
  if (socket.pid() != 0) return absl::StrCat("pid ", socket.pid());
  return "-";
}

std::string OwnerName(const v1::AddressOwner& owner) {
  if (owner.kind() == v1::OWNER_KIND_SWARM_VIP) {
    return owner.service().empty() ? "a service VIP"
                                   : absl::StrCat("VIP of ", owner.service());
  }
  if (!owner.task().empty()) return owner.task();
  if (!owner.container_name().empty()) return owner.container_name();
  if (!owner.service().empty()) return owner.service();
  if (owner.kind() == v1::OWNER_KIND_HOST) {
    return owner.node().empty() ? "a host"
                                : absl::StrCat("host ", owner.node());
  }
  if (!owner.netns().empty()) return absl::StrCat("netns ", owner.netns());
  if (owner.netns_inode() != 0) {
    return absl::StrCat("netns inode:", owner.netns_inode());
  }
  return "";
}

std::string ComposeStory(const v1::Finding& finding,
                         const StoryContext& context) {
  const v1::SocketRecord& socket = finding.socket();
  std::string subject = StoryClient(socket);
  if (!socket.node().empty()) absl::StrAppend(&subject, " on ", socket.node());
  const std::string peer = Endpoint(socket.remote_ip(), socket.remote_port());
  const std::string last = LastOwnerClause(finding, context);

  std::string story;
  switch (finding.kind()) {
    case v1::VANISHED_PEER:
      // Said outright: that nobody holds the address is the whole finding.
      if (finding.severity() == v1::CRITICAL || finding.bytes_at_risk() > 0) {
        story = absl::StrCat(subject, " is writing to ", peer, last,
                             "; nobody holds it now; ", AtRisk(finding));
      } else {
        story =
            absl::StrCat(subject, " holds an idle connection to ", peer, last,
                         "; nobody holds it now; its next write will be "
                         "lost");
      }
      break;
    case v1::REASSIGNED_PEER: {
      const std::string current =
          finding.has_peer_current_owner()
              ? ShortTaskName(OwnerName(finding.peer_current_owner()))
              : "";
      std::string now_held;
      if (current.empty()) {
        now_held = ", now held by someone else";
      } else if (last.empty()) {
        now_held = absl::StrCat(", now held by ", current);
      } else {
        now_held = absl::StrCat(" and now belongs to ", current);
      }
      story = absl::StrCat(subject, " is connected to ", peer, last, now_held,
                           "; ", AtRisk(finding));
      break;
    }
    case v1::CLOSE_WAIT_WRITER:
      story = absl::StrCat(subject, " keeps writing to ", peer,
                           " after the peer closed the connection; ",
                           AtRisk(finding));
      break;
    default:
      story = absl::StrCat(subject, " has a suspect connection to ", peer, last,
                           "; ", AtRisk(finding));
      break;
  }
  if (finding.status() == v1::RESOLVED) {
    if (IsSet(finding.resolved_at())) {
      absl::StrAppend(&story, " (resolved ",
                      StoryTime(FromProto(finding.resolved_at()), context),
                      ")");
    } else {
      absl::StrAppend(&story, " (resolved)");
    }
  }
  return story;
}

std::string FindingStory(const v1::Finding& finding,
                         const StoryContext& context) {
  if (!finding.story().empty()) return Printable(finding.story());
  return Printable(ComposeStory(finding, context));
}

}  // namespace ghostpeer
