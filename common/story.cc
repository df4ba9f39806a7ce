#include "common/story.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/human_bytes.h"
#include "common/names.h"
#include "common/tcp_retries.h"
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
  if (finding.socket().protocol() == v1::PROTOCOL_UDP) {
    // Nothing acknowledges a datagram: no count of bytes lost exists. Say
    // what the socket shows.
    const v1::SocketRecord& socket = finding.socket();
    return absl::StrCat("its datagrams go unanswered (UDP; send queue ",
                        HumanBytes(socket.send_queue()), ", receive queue ",
                        HumanBytes(socket.recv_queue()), ")");
  }
  if (finding.bytes_at_risk() == 0) return "nothing queued yet";
  return absl::StrCat(HumanBytes(finding.bytes_at_risk()), " at risk");
}

// The peer of a translated socket (socket.backend_ip set): the address it
// names and where the translation sends it: "db's VIP 10.0.1.2:5432, whose
// connection still goes to 10.0.1.6:5432", or, for an address nobody is
// known to own, "10.77.9.9:8080, translated to 10.77.2.11:8080".
std::string TranslatedPeer(const v1::Finding& finding) {
  const v1::SocketRecord& socket = finding.socket();
  const std::string vip = Endpoint(socket.remote_ip(), socket.remote_port());
  const std::string backend =
      Endpoint(socket.backend_ip(), socket.backend_port());
  const v1::AddressOwner& owner = finding.vip_owner();
  if (finding.has_vip_owner() && owner.kind() == v1::OWNER_KIND_SWARM_VIP &&
      !owner.service().empty()) {
    return absl::StrCat(owner.service(), "'s VIP ", vip,
                        ", whose connection still goes to ", backend);
  }
  const std::string name =
      finding.has_vip_owner() ? ShortTaskName(OwnerName(owner)) : "";
  if (!name.empty()) {
    return absl::StrCat(vip, " (", name, "), whose connection still goes to ",
                        backend);
  }
  return absl::StrCat(vip, ", translated to ", backend);
}

// " (db.1, gone since 12:03:04 UTC)": the backend's last owner, as a
// translated peer's story names it.
std::string GoneClause(const v1::Finding& finding,
                       const StoryContext& context) {
  const v1::AddressOwner& last = finding.peer_last_owner();
  const std::string owner =
      finding.has_peer_last_owner() ? ShortTaskName(OwnerName(last)) : "";
  const bool dated = finding.has_peer_last_owner() && IsSet(last.until());
  if (owner.empty() && !dated) return " (gone)";
  std::string clause = absl::StrCat(" (", owner.empty() ? "" : owner,
                                    owner.empty() ? "" : ", ", "gone");
  if (dated) {
    absl::StrAppend(&clause, " since ",
                    StoryTime(FromProto(last.until()), context));
  }
  absl::StrAppend(&clause, ")");
  return clause;
}

// How a story names a kind: "a close-wait writer".
std::string KindPhrase(v1::FindingKind kind) {
  switch (kind) {
    case v1::VANISHED_PEER:
      return "a vanished peer";
    case v1::REASSIGNED_PEER:
      return "a reassigned peer";
    case v1::CLOSE_WAIT_WRITER:
      return "a close-wait writer";
    default:
      return "another kind";
  }
}

// "15m24s", "2m", "45s": minutes and seconds, whole seconds down.
std::string MinutesSeconds(absl::Duration span) {
  const int64_t seconds = absl::ToInt64Seconds(span);
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds % 60 == 0) return absl::StrCat(seconds / 60, "m");
  return absl::StrCat(seconds / 60, "m", seconds % 60, "s");
}

}  // namespace

std::string RetryAdvice(const v1::SocketRecord& socket) {
  const v1::TcpInfo& info = socket.tcp_info();
  const absl::Duration left = RemainingRetransmissionTime(
      absl::Microseconds(info.rto_us()), info.backoff());
  // Already retransmitting: the time is what is left of it.
  return absl::StrCat(
      "Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it "
      "notices by itself: its kernel would otherwise keep retrying for about ",
      MinutesSeconds(left), info.backoff() > 0 ? " more" : "");
}

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
  const bool udp = socket.protocol() == v1::PROTOCOL_UDP;
  const bool translated = !socket.backend_ip().empty();
  const std::string peer =
      translated ? TranslatedPeer(finding)
                 : Endpoint(socket.remote_ip(), socket.remote_port());
  const std::string last = LastOwnerClause(finding, context);
  // A ghost whose peer had sent its FIN first: the story says so, since it
  // is also the only finding the socket gets (no separate close-wait
  // writer).
  const std::string closed =
      !udp && socket.state() == v1::TCP_STATE_CLOSE_WAIT &&
              finding.kind() != v1::CLOSE_WAIT_WRITER
          ? "; the peer had closed the connection"
          : "";

  std::string story;
  switch (finding.kind()) {
    case v1::VANISHED_PEER:
      if (translated) {
        // "gone since" says what "nobody holds it now" says directly.
        const std::string gone = GoneClause(finding, context);
        if (udp) {
          story = absl::StrCat(subject, " sends to ", peer, gone, "; ",
                               AtRisk(finding));
        } else if (finding.severity() == v1::CRITICAL ||
                   finding.bytes_at_risk() > 0) {
          story = absl::StrCat(subject, " is writing to ", peer, gone, closed,
                               "; ", AtRisk(finding));
        } else {
          story = absl::StrCat(subject, " holds an idle connection to ", peer,
                               gone, closed, "; its next write will be lost");
        }
        break;
      }
      // Said outright: that nobody holds the address is the whole finding.
      if (udp) {
        story = absl::StrCat(subject, " sends to ", peer, last,
                             "; nobody holds it now; ", AtRisk(finding));
      } else if (finding.severity() == v1::CRITICAL ||
                 finding.bytes_at_risk() > 0) {
        story = absl::StrCat(subject, " is writing to ", peer, last,
                             "; nobody holds it now", closed, "; ",
                             AtRisk(finding));
      } else {
        story = absl::StrCat(subject, " holds an idle connection to ", peer,
                             last, "; nobody holds it now", closed,
                             "; its next write will be lost");
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
      story = absl::StrCat(subject, udp ? " sends to " : " is connected to ",
                           peer, last, now_held, closed, "; ", AtRisk(finding));
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
  if (finding.previous_kind() != v1::FINDING_KIND_UNSPECIFIED &&
      finding.previous_kind() != finding.kind()) {
    absl::StrAppend(&story, "; reported as ",
                    KindPhrase(finding.previous_kind()), " before");
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
  // The loss ends by itself only when the client's kernel gives up; the
  // advice says how long that is, and how to make it short. UDP has no
  // retransmission to bound; a close-wait writer's peer is alive.
  if ((finding.kind() == v1::VANISHED_PEER ||
       finding.kind() == v1::REASSIGNED_PEER) &&
      finding.socket().protocol() != v1::PROTOCOL_UDP) {
    absl::StrAppend(&story, ". ", RetryAdvice(finding.socket()));
  }
  return story;
}

std::string FindingStory(const v1::Finding& finding,
                         const StoryContext& context) {
  if (!finding.story().empty()) return Printable(finding.story());
  return Printable(ComposeStory(finding, context));
}

}  // namespace ghostpeer
