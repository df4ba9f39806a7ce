// Address translations between a client's socket and the real backend: what
// a node's conntrack table (destination NAT: kube-proxy, an iptables DNAT
// VIP) and IPVS connection table (Docker swarm's VIP load balancer, in the
// lb_* and ingress_sbox namespaces) say about where a flow really goes.
//
// A client of a VIP holds a socket naming the VIP, which stays alive when the
// backend dies; only the translation names the backend
// (../shared/NOTES-vip-nat.md). The agent reads the translations of every
// namespace it snapshots and joins them to sockets by the original tuple.
//
// The parsers are pure: bytes in, translations out, every byte hostile.
#ifndef GHOSTPEER_AGENT_TRANSLATION_H_
#define GHOSTPEER_AGENT_TRANSLATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ghostpeer::agent {

enum class Translator { kConntrack, kIpvs };

// One translated flow. Addresses are canonical text (inet_ntop), as in the
// socket records, so the join compares strings.
struct Translation {
  Translator translator = Translator::kConntrack;
  uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP; others are not kept
  // The original tuple: the client's socket (local side) and the address it
  // names (the VIP).
  std::string client_ip;
  uint16_t client_port = 0;
  std::string service_ip;
  uint16_t service_port = 0;
  // Where the flow is really sent: conntrack's reply-tuple source, IPVS's
  // DestIP:DPrt.
  std::string backend_ip;
  uint16_t backend_port = 0;
  // The kernel's state name for the flow ("ESTABLISHED", "CLOSE_WAIT", ...)
  // and seconds until the entry expires unless refreshed.
  std::string state;
  uint32_t expires_s = 0;

  friend bool operator==(const Translation& a, const Translation& b) {
    return a.translator == b.translator && a.protocol == b.protocol &&
           a.client_ip == b.client_ip && a.client_port == b.client_port &&
           a.service_ip == b.service_ip && a.service_port == b.service_port &&
           a.backend_ip == b.backend_ip && a.backend_port == b.backend_port &&
           a.state == b.state && a.expires_s == b.expires_s;
  }
};

// Parses /proc/net/ip_vs_conn (IPv4 and IPv6 lines, header skipped). A line
// that does not parse is skipped and counted in `*malformed` (when not
// null): one bad line must not hide the rest.
std::vector<Translation> ParseIpVsConn(absl::string_view text,
                                       size_t* malformed = nullptr);

// Parses the messages of a ctnetlink dump (IPCTNL_MSG_CT_GET replies, as
// read from the socket: one or more nlmsghdr-framed messages). Keeps TCP and
// UDP entries with destination NAT (IPS_DST_NAT) only. Appends to `*out`.
// Returns OK when the buffer held only complete messages (NLMSG_DONE ends
// the dump: `*done` set when seen), InvalidArgument on a truncated or
// malformed message (what came before it is kept), and the kernel's error
// for an NLMSG_ERROR reply (PermissionDenied for EPERM: no CAP_NET_ADMIN).
absl::Status ParseConntrackDump(absl::Span<const uint8_t> bytes,
                                std::vector<Translation>* out, bool* done);

// Parses /proc/net/nf_conntrack text (the fallback where ctnetlink is not
// allowed): keeps TCP and UDP entries whose reply source differs from the
// original destination (destination NAT). Malformed lines as above.
std::vector<Translation> ParseProcConntrack(absl::string_view text,
                                            size_t* malformed = nullptr);

// net.ipv4.vs.* of one namespace; -1 where unreadable.
struct IpvsSettings {
  int expire_nodest_conn = -1;
  int expire_quiescent_template = -1;
  int conn_reuse_mode = -1;
};

// What one namespace's translation tables hold.
struct NamespaceTranslations {
  std::vector<Translation> flows;
  // Set when the namespace has IPVS (/proc/thread-self/net/ip_vs_conn
  // exists).
  std::optional<IpvsSettings> ipvs;
  // Why conntrack could not be read (empty when it could, or when the
  // namespace has no conntrack at all).
  std::string error;
};

// Reads the translations of the calling thread's network namespace: call it
// on the NamespaceWorker's thread (namespace_worker.h) inside the namespace.
// conntrack through ctnetlink (needs CAP_NET_ADMIN), falling back to
// /proc/thread-self/net/nf_conntrack; IPVS from
// /proc/thread-self/net/ip_vs_conn and /proc/sys/net/ipv4/vs/*.
// `proc_root` is where /proc is mounted for this thread ("/proc").
NamespaceTranslations ReadTranslationsHere(const std::string& proc_root);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_TRANSLATION_H_
