#include "aggregator/alerts/story.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/human_bytes.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::alerts {
namespace {

std::string Endpoint(const std::string& ip, uint32_t port) {
  if (port == 0) return ip;
  if (absl::StrContains(ip, ':')) return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

// ", which belonged to mongo.1 until 12:03:04", or "" without a last owner.
std::string LastOwnerClause(const v1::Finding& finding) {
  if (!finding.has_peer_last_owner()) return "";
  const std::string owner = OwnerLabel(finding.peer_last_owner());
  if (owner.empty()) return "";
  std::string clause = absl::StrCat(", which belonged to ", owner);
  if (finding.peer_last_owner().has_until()) {
    absl::StrAppend(
        &clause, " until ",
        absl::FormatTime("%H:%M:%S",
                         FromProto(finding.peer_last_owner().until()),
                         absl::UTCTimeZone()));
  }
  return clause;
}

std::string AtRisk(const v1::Finding& finding) {
  if (finding.bytes_at_risk() == 0) return "nothing queued yet";
  return absl::StrCat(HumanBytes(finding.bytes_at_risk()), " at risk");
}

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

}  // namespace

std::string ClientLabel(const v1::SocketRecord& socket) {
  if (!socket.task().empty()) return socket.task();
  if (!socket.container_name().empty()) return socket.container_name();
  if (!socket.service().empty()) return socket.service();
  // Outside containers the process says more than the namespace alone.
  std::string client;
  if (!socket.comm().empty() && socket.pid() != 0) {
    client = absl::StrCat(socket.comm(), " (pid ", socket.pid(), ")");
  } else if (!socket.comm().empty()) {
    client = socket.comm();
  } else if (socket.pid() != 0) {
    client = absl::StrCat("pid ", socket.pid());
  }
  if (socket.netns_inode() != 0) {
    absl::StrAppend(&client, client.empty() ? "" : " in ",
                    "netns:", socket.netns_inode());
  }
  return client.empty() ? "a host process" : client;
}

std::string OwnerLabel(const v1::AddressOwner& owner) {
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

std::string AlertStory(const v1::Finding& finding) {
  if (!finding.story().empty()) return OneLine(finding.story());
  const v1::SocketRecord& socket = finding.socket();
  std::string subject = ClientLabel(socket);
  if (!socket.node().empty()) absl::StrAppend(&subject, " on ", socket.node());
  const std::string peer = Endpoint(socket.remote_ip(), socket.remote_port());
  std::string last = LastOwnerClause(finding);
  std::string story;
  switch (finding.kind()) {
    case v1::VANISHED_PEER:
      if (last.empty()) last = ", which nobody holds now";
      story = finding.severity() == v1::CRITICAL || finding.bytes_at_risk() > 0
                  ? absl::StrCat(subject, " is writing to ", peer, last, "; ",
                                 AtRisk(finding))
                  : absl::StrCat(subject, " holds an idle connection to ", peer,
                                 last, "; its next write will be lost");
      break;
    case v1::REASSIGNED_PEER: {
      const std::string current = finding.has_peer_current_owner()
                                      ? OwnerLabel(finding.peer_current_owner())
                                      : "";
      story = absl::StrCat(
          subject, " is connected to ", peer, last,
          current.empty() ? ", now held by someone else"
                          : absl::StrCat(last.empty() ? ", now held by "
                                                      : " and now belongs to ",
                                         current),
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
  }
  return OneLine(std::move(story));
}

}  // namespace ghostpeer::aggregator::alerts
