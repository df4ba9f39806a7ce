// One node's TCP and connected UDP sockets, namespaces and addresses at one
// moment.
#ifndef GHOSTPEER_AGENT_SNAPSHOTTER_H_
#define GHOSTPEER_AGENT_SNAPSHOTTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/conntrack_follower.h"
#include "agent/container_info.h"
#include "agent/inet_address.h"
#include "agent/namespace_worker.h"
#include "agent/namespaces.h"
#include "agent/netlink_socket.h"
#include "agent/process_index.h"
#include "agent/snapshot_source.h"
#include "agent/translation.h"
#include "common/time_util.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

enum class CaptureMode {
  // NETLINK_SOCK_DIAG in every namespace; /proc/<pid>/net/{tcp,udp}{,6}
  // for a namespace where netlink (or entering it) is refused.
  kNetlink,
  // /proc/<pid>/net/{tcp,udp}{,6} only (kernels without inet_diag, or to
  // compare).
  // Every namespace reachable through a pid is reported FALLBACK.
  kProcNetTcp,
};

// Describes `ns` as its container `container` (what Docker says of it):
// names, service, task, slot, node id, image, and the scope of every address
// Docker explains (ContainerInfo::address_scopes). An address Docker does
// not explain keeps its scope unspecified (AddressTracker makes it
// node-local). Pure.
void DescribeNamespace(const ContainerInfo& container, v1::NamespaceInfo* ns);

// Makes the addresses of `ns` that no one has scoped yet cluster-wide when
// they lie in one of `cluster_prefixes` (the agent's --cluster-cidr: routed
// ranges every node reaches, which Docker does not describe). Pure.
void ScopeByPrefixes(absl::Span<const InetPrefix> cluster_prefixes,
                     v1::NamespaceInfo* ns);

struct SnapshotterOptions {
  std::string node;  // node name put in every record; empty: the host name
  std::string proc_root = "/proc";
  std::vector<std::string> netns_dirs = {"/var/run/netns",
                                         "/var/run/docker/netns"};
  ContainerResolver* container_resolver = nullptr;  // not owned, may be null
  const Clock* clock = Clock::Real();
  CaptureMode capture = CaptureMode::kNetlink;
  // Ranges whose addresses are cluster-wide when Docker does not say
  // otherwise (ScopeByPrefixes); the rest of what Docker does not explain
  // is node-local.
  std::vector<InetPrefix> cluster_prefixes;
  // Socket inode -> pid/comm and pid -> container id.
  bool attribute_processes = true;
  // Threads that may read processes' fd tables at once (the cost of a cold
  // attribution, all of it in the kernel). 0: one per core, at most 4.
  int scan_threads = 0;
  // Keep each namespace's netlink sockets open across snapshots (creating
  // them costs a setns round trip; docs/linux-docker.md: 29 vs 14 us per
  // namespace). An open socket keeps its namespace alive, so they are closed
  // as soon as a snapshot no longer finds the namespace.
  bool keep_namespace_sockets = true;
  // The agent's own namespace handle (on the real /proc, whatever proc_root).
  std::string own_netns = "/proc/self/ns/net";
  // When not empty, only namespaces whose `ip netns` name matches one of
  // these shell globs are captured (the host's and unnamed ones are not):
  // to watch a chosen set of namespaces, or to run several agents on one
  // machine as if each were its own node (the system tests do).
  std::vector<std::string> netns_only;
  // Read every namespace's conntrack (DNAT) and IPVS tables and join them to
  // the sockets, so a socket to a VIP names its real backend
  // (translation_join.h). Off: no socket is translated and
  // translation_status says the node cannot see through VIPs.
  bool translations = true;
  // Follow the conntrack table of a namespace whose last full read found at
  // least `follow_conntrack_from` NAT flows, or took at least
  // `follow_conntrack_after` (every read walks the node's whole conntrack
  // table, so a namespace with few flows on a busy node costs as much),
  // instead of re-reading it every snapshot (conntrack_follower.h; needs
  // CAP_NET_ADMIN, else every read is full). Only the host's, the agent's
  // own and bind-mounted namespaces are followed (a follower's socket would
  // keep a process-only namespace alive). follow_conntrack_from 0: follow
  // every such namespace that has conntrack (tests); SIZE_MAX with an
  // infinite duration: never.
  size_t follow_conntrack_from = 256;
  absl::Duration follow_conntrack_after = absl::Milliseconds(5);
  // A followed table is re-read in full every this many snapshots, and
  // whenever events were lost.
  int conntrack_resync_every = 12;
};

// NodeSnapshot.translation_status when translations are turned off.
inline constexpr char kTranslationsOff[] =
    "unavailable: translations are turned off (--translations=off)";

// At or above this many conntrack entries in a namespace, ctnetlink (which
// the kernel filters to destination-NAT entries) beats the /proc file
// (which formats every entry, about 5.5 us each here).
inline constexpr uint64_t kProcFileCheaperBelow = 4096;

// How ReadTranslationsHere should read the calling thread's namespace, from
// `proc_root` ("/proc"; its thread-self/net and sys/net follow the thread):
//   nullopt  it can hold no translation: no IPVS (thread-self/net/ip_vs_conn
//            missing) and no conntrack (sys/net/netfilter/nf_conntrack_count
//            missing) or none tracked (the count is 0);
//   use_ctnetlink false  IPVS without conntrack; or the conntrack file
//            (thread-self/net/nf_conntrack) is readable and the count below
//            kProcFileCheaperBelow;
//   use_ctnetlink true   otherwise (a count that cannot be read included:
//            ReadTranslationsHere then says what failed).
// Reads only those small files; call it where ReadTranslationsHere would be.
std::optional<TranslationReadOptions> HowToReadTranslations(
    const std::string& proc_root);

class Snapshotter final : public SnapshotSource {
 public:
  // Starts the namespace worker thread. Errors: InvalidArgument for a null
  // clock, or the worker's start failure.
  static absl::StatusOr<std::unique_ptr<Snapshotter>> Create(
      SnapshotterOptions options);

  // One snapshot of every namespace of the node: node, taken_at,
  // agent_version, kernel, namespaces (identity, addresses, status, error,
  // socket_count), sockets (TCP in every state, UDP only when connected;
  // each with node and netns_inode) and stats. A
  // namespace that cannot be entered or dumped is reported FAILED with its
  // error (or FALLBACK when /proc could stand in) and never fails the call.
  //
  // With options.translations, also each namespace's translations, read on
  // the namespace worker inside it (ReadTranslationsHere, or a
  // ConntrackFollower where follow_conntrack_from says) while this thread
  // dumps sockets, then joined to the sockets of all namespaces
  // (JoinTranslations): NamespaceInfo.ipvs where the namespace has IPVS,
  // NamespaceInfo.translation_error where its conntrack could not be read
  // (or it could not be entered), stats.translations (flows read),
  // stats.translation_namespaces_failed (namespaces with an error) and
  // stats.translation_duration (reading, wall time, plus the join), and
  // translation_status (TranslationStatus in translation_join.h): "ok"
  // when every namespace's translation tables that exist were read (one
  // that disappeared before it could be entered has none left), else
  // "unavailable: ..." naming how many namespaces failed and the first;
  // kTranslationsOff when turned off.
  // Errors: only when the namespaces cannot be listed at all (proc_root or
  // the agent's own namespace unreadable). Not thread-safe: one caller.
  absl::StatusOr<v1::NodeSnapshot> Take() override;

  // The namespaces whose conntrack is followed now, and their followers'
  // full reads and events applied: for tests and benchmarks.
  struct FollowStats {
    size_t namespaces = 0;
    uint64_t resyncs = 0;
    uint64_t events = 0;
  };
  FollowStats follow_stats() const {
    FollowStats stats;
    for (const auto& [key, follower] : followers_) {
      ++stats.namespaces;
      stats.resyncs += follower->resyncs();
      stats.events += follower->events();
    }
    return stats;
  }

  // Counters of the process attribution caches, for benchmarks and metrics.
  const ProcessIndexStats& attribution_stats() const {
    return process_index_.stats();
  }

 private:
  struct NamespaceSockets {
    NetlinkSocket diag;
    NetlinkSocket route;
    absl::Status diag_error;
    absl::Status route_error;
  };

  explicit Snapshotter(SnapshotterOptions options,
                       std::unique_ptr<NamespaceWorker> worker);

  // Fills `info` and appends the namespace's sockets to `snapshot`.
  void CaptureNamespace(const NetnsEntry& entry, v1::NamespaceInfo* info,
                        v1::NodeSnapshot* snapshot);
  // Opens (or finds cached) netlink sockets inside `entry`'s namespace.
  absl::StatusOr<NamespaceSockets*> SocketsFor(const NetnsEntry& entry);
  absl::Status DumpSockets(NetlinkSocket& diag, SockDiagParseResult* result);
  // Appends the connected UDP sockets of both families to `result`.
  absl::Status DumpConnectedUdpSockets(NetlinkSocket& diag,
                                       SockDiagParseResult* result);
  // /proc/<pid>/net/tcp{,6} and udp{,6} of a process inside `entry`.
  absl::Status CaptureFromProc(const NetnsEntry& entry,
                               v1::NodeSnapshot* snapshot);
  // Reads every namespace's translations on the worker, one hop each, into
  // `out` (by index) and `entered` (the hop's status).
  void ReadTranslations(const std::vector<NetnsEntry>& namespaces,
                        std::vector<NamespaceTranslations>* out,
                        std::vector<absl::Status>* entered);
  // Fills the namespaces' and the snapshot's translation fields from what
  // ReadTranslations read, and joins the flows to the sockets.
  void ApplyTranslations(std::vector<NamespaceTranslations> translations,
                         const std::vector<absl::Status>& entered,
                         absl::Duration read_duration,
                         v1::NodeSnapshot* snapshot);
  void Attribute(const std::vector<NetnsEntry>& namespaces,
                 const std::vector<std::pair<int, int>>& ranges,
                 v1::NodeSnapshot* snapshot);

  SnapshotterOptions options_;
  std::unique_ptr<NamespaceWorker> worker_;
  ProcessIndex process_index_;
  absl::flat_hash_map<NamespaceKey, std::unique_ptr<NamespaceSockets>> sockets_;
  // Namespaces whose conntrack is followed; closed with their namespace.
  absl::flat_hash_map<NamespaceKey, std::unique_ptr<ConntrackFollower>>
      followers_;
  std::string kernel_release_;
  // TCPDIAG_GETSOCK with AF_UNSPEC dumps both families in one walk; set to
  // false if a kernel ever refuses it, and then one dump per family is used.
  bool single_walk_dump_ = true;
  // Why this kernel cannot dump UDP sockets (no udp_diag handler), once it
  // said so; OK while it can. Every namespace then says it in its error.
  absl::Status udp_unavailable_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_SNAPSHOTTER_H_
