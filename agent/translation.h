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
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/netlink.h"

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
  // The kernel's state name for the flow and seconds until the entry expires
  // unless refreshed. TCP: conntrack's TCP state (NONE, SYN_SENT, SYN_RECV,
  // ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE; SYN_SENT2;
  // "STATE_<n>" for a number newer than us) or IPVS's (those plus LISTEN,
  // SYNACK). UDP has no state in conntrack: "UNREPLIED" (no reply seen yet),
  // "ASSURED" (replies both ways, kept under pressure) or "" (replied, not
  // assured); IPVS says "UDP".
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
// null): one bad line must not hide the rest. Lines of other protocols
// (SCTP, ESP, AH) are skipped without being counted. IPv4 addresses are the
// kernel's "%08X" of the host-order value (0A000105 is 10.0.1.5), IPv6 ones
// "%pI6"; each of a line's three addresses may be of either family (an IPv4
// service may forward to an IPv6 real server). translator = kIpvs, client =
// FromIP:FPrt, service = ToIP:TPrt, backend = DestIP:DPrt.
std::vector<Translation> ParseIpVsConn(absl::string_view text,
                                       size_t* malformed = nullptr);

// Parses the messages of a ctnetlink dump (IPCTNL_MSG_CT_GET replies, as
// read from the socket: one or more nlmsghdr-framed messages). Keeps TCP and
// UDP entries with destination NAT (IPS_DST_NAT) only. Appends to `*out`.
// Returns OK when the buffer held only complete messages (NLMSG_DONE ends
// the dump: `*done` set when seen), InvalidArgument on a truncated or
// malformed message (what came before it is kept), and the kernel's error
// for an NLMSG_ERROR reply (PermissionDenied for EPERM: no CAP_NET_ADMIN).
// The client is the original tuple's source, the service its destination,
// the backend the reply tuple's source (port: the reply's source port).
// Entries of other protocols or without IPS_DST_NAT are skipped before their
// tuples are checked; a TCP/UDP NAT entry without both complete tuples, any
// entry without CTA_STATUS, and any attribute of the wrong size are
// malformed. Messages of other types (not ctnetlink's NEW) are ignored.
absl::Status ParseConntrackDump(absl::Span<const uint8_t> bytes,
                                std::vector<Translation>* out, bool* done);

// The same, checking each message's sequence number and port id against
// `expect` (replies to another request are ignored): what the socket reader
// uses.
absl::Status ParseConntrackMessagesInto(absl::Span<const uint8_t> bytes,
                                        const NetlinkExpect& expect,
                                        std::vector<Translation>* out,
                                        bool* done);

// One conntrack event of a socket subscribed to NFNLGRP_CONNTRACK_NEW and
// NFNLGRP_CONNTRACK_DESTROY: an entry was created (IPCTNL_MSG_CT_NEW) or
// removed (IPCTNL_MSG_CT_DELETE). Events use the dump's message format.
struct ConntrackEvent {
  enum class Kind { kNew, kDestroy };
  Kind kind = Kind::kNew;
  Translation flow;
};

// Parses one receive buffer of conntrack events (no sequence number or port
// id to check: the kernel sends them unasked, a DESTROY caused by
// `conntrack -D` carries that tool's port id). Keeps the same entries as
// ParseConntrackDump (TCP/UDP with IPS_DST_NAT), with the same checks, and
// appends them in order to `*out`. Returns InvalidArgument on a truncated or
// malformed message (what came before it is kept) and the kernel's error
// for an NLMSG_ERROR. Messages of other types are ignored.
absl::Status ParseConntrackEvents(absl::Span<const uint8_t> bytes,
                                  std::vector<ConntrackEvent>* out);

// The complete ctnetlink dump request (IPCTNL_MSG_CT_GET, NLM_F_DUMP) for
// the conntrack entries of both families (nfgen_family AF_UNSPEC) with
// IPS_DST_NAT (CTA_STATUS + CTA_STATUS_MASK: the kernel filters where it
// can).
std::vector<uint8_t> BuildConntrackDumpRequest(uint32_t seq);

// Parses /proc/net/nf_conntrack text (the fallback where ctnetlink is not
// allowed): keeps TCP and UDP entries whose reply source (address or port)
// differs from the original destination (destination NAT; the text has no
// status bits). IPv6 addresses are printed uncompressed and come out
// canonical. Other protocols are skipped, malformed lines counted as above.
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
  // Why conntrack or IPVS could not be read, or not wholly (a cap was hit):
  // empty when all was read, or when the namespace has no conntrack at all.
  // `flows` holds what was read either way.
  std::string error;
};

// Bounds and choices of ReadTranslationsHere; the defaults are the agent's.
struct TranslationReadOptions {
  // Flows kept per table (conntrack, IPVS) and namespace; beyond, the rest
  // is dropped and `error` says so. A node with more NAT flows than this in
  // one namespace is not one the agent can afford to join anyway.
  size_t max_flows = 1'000'000;
  // Bytes read from a /proc table (~150-250 bytes a line).
  size_t max_proc_bytes = size_t{256} << 20;
  // False: skip ctnetlink and read /proc/thread-self/net/nf_conntrack only
  // (tests of the fallback).
  bool use_ctnetlink = true;
  // False: leave conntrack, or IPVS, unread (a ConntrackFollower keeps the
  // conntrack flows itself and reads only IPVS each time).
  bool read_conntrack = true;
  bool read_ipvs = true;
  absl::Duration receive_timeout = absl::Seconds(5);
};

// Reads the translations of the calling thread's network namespace: call it
// on the NamespaceWorker's thread (namespace_worker.h) inside the namespace.
// conntrack through ctnetlink (needs CAP_NET_ADMIN), falling back to
// /proc/thread-self/net/nf_conntrack; IPVS from
// /proc/thread-self/net/ip_vs_conn and /proc/sys/net/ipv4/vs/*.
// `proc_root` is where /proc is mounted for this thread ("/proc").
// ctnetlink refused (PermissionDenied) or missing (Unimplemented) falls back
// to the /proc file (its absence then is an error: nothing could be read);
// a namespace without conntrack (an empty dump; with use_ctnetlink false, no
// file) gives no flows and no error. Any other
// ctnetlink failure is reported in `error` without the fallback. Never
// fails as a whole: what could be read is returned.
NamespaceTranslations ReadTranslationsHere(const std::string& proc_root);
NamespaceTranslations ReadTranslationsHere(
    const std::string& proc_root, const TranslationReadOptions& options);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_TRANSLATION_H_
