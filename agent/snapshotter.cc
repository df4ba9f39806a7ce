#include "agent/snapshotter.h"

#include <fnmatch.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/proc_fs.h"
#include "agent/proc_net_tcp.h"
#include "agent/rtnetlink.h"
#include "agent/translation_join.h"
#include "common/logging.h"
#include "common/utf8.h"
#include "common/version.h"

namespace ghostpeer::agent {
namespace {

using SteadyClock = std::chrono::steady_clock;

absl::Duration Since(SteadyClock::time_point start) {
  return absl::FromChrono(SteadyClock::now() - start);
}

// The kernel (or a seccomp/LSM policy) said no, as opposed to "broken":
// /proc can stand in for netlink then.
bool IsRefusal(const absl::Status& status) {
  return absl::IsPermissionDenied(status) || absl::IsUnimplemented(status);
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return RepairUtf8(name);
}

// `error` may quote a namespace's file name: repaired like the name itself.
void AppendError(v1::NamespaceInfo* info, absl::string_view error) {
  if (info->error().empty()) {
    info->set_error(RepairUtf8(error));
  } else {
    info->set_error(absl::StrCat(info->error(), "; ", RepairUtf8(error)));
  }
}

// Moves every record of `records` to the end of `out` without copying.
void MoveRecords(google::protobuf::RepeatedPtrField<v1::SocketRecord>& records,
                 google::protobuf::RepeatedPtrField<v1::SocketRecord>* out) {
  if (out->empty()) {
    out->Swap(&records);
    return;
  }
  std::vector<v1::SocketRecord*> extracted(records.size());
  records.ExtractSubrange(0, records.size(), extracted.data());
  out->Reserve(out->size() + static_cast<int>(extracted.size()));
  for (v1::SocketRecord* record : extracted) out->AddAllocated(record);
}

// `requested`, or one per core this process may run on (its cpuset, not
// the machine's), at most 4: attribution is a burst, not the agent's job.
int ScanThreads(int requested) {
  if (requested > 0) return requested;
  cpu_set_t cpus;
  const int cores =
      sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return std::clamp(cores, 1, 4);
}

// A thread that is joined however the scope ends.
struct JoinOnExit {
  std::thread thread;
  void Join() {
    if (thread.joinable()) thread.join();
  }
  ~JoinOnExit() { Join(); }
};

}  // namespace

// Why (HowToReadTranslations, snapshotter.h): every conntrack read walks
// the node's whole conntrack hash, which all namespaces share
// (nf_conntrack_buckets: 262,144 here), whatever the namespace holds:
//   - a namespace whose own nf_conntrack_count is 0, or that has no
//     conntrack at all, and that has no IPVS has nothing to find: skipped
//     (most containers of a node that does not NAT);
//   - the /proc file's RCU walk of an idle hash takes 0.3 ms, ctnetlink's
//     lock per bucket 20-45 ms (even for the host namespace's 11 entries),
//     but the file formats every entry where ctnetlink sends translated
//     ones only: the file where this process may read it and the namespace
//     holds few entries, else ctnetlink (which falls back to the file when
//     refused). For 10,000 translated flows both take about 60 ms
//     (agent_bench --case translations).
std::optional<TranslationReadOptions> HowToReadTranslations(
    const std::string& proc_root) {
  struct stat st;
  const bool ipvs =
      stat((proc_root + "/thread-self/net/ip_vs_conn").c_str(), &st) == 0;
  TranslationReadOptions options;
  absl::StatusOr<std::string> text =
      ReadSmallFile(proc_root + "/sys/net/netfilter/nf_conntrack_count", 64);
  uint64_t count = 0;
  const bool known =
      text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &count);
  if (absl::IsNotFound(text.status())) {
    // No conntrack in this kernel: IPVS alone, if any.
    if (!ipvs) return std::nullopt;
    options.use_ctnetlink = false;
    return options;
  }
  if (known && count == 0 && !ipvs) return std::nullopt;
  const bool file_readable =
      access((proc_root + "/thread-self/net/nf_conntrack").c_str(), R_OK) == 0;
  options.use_ctnetlink =
      !(file_readable && known && count < kProcFileCheaperBelow);
  return options;
}

namespace {

size_t ConntrackFlows(const std::vector<Translation>& flows) {
  return static_cast<size_t>(
      std::count_if(flows.begin(), flows.end(), [](const Translation& flow) {
        return flow.translator == Translator::kConntrack;
      }));
}

// Whether a namespace's conntrack may be followed (conntrack_follower.h)
// rather than re-read by every snapshot. A follower holds a socket created
// inside the namespace, and an open socket keeps its namespace alive, with
// its interfaces and addresses, after its last process has left: a dead
// container's address would go on answering, the very behaviour the agent
// reports on. So only namespaces whose life is not tied to processes are
// followed: the host's, the agent's own, and those kept by a bind-mounted
// file (ip netns, Docker's lb_* and ingress_sbox), whose removal takes them
// out of the listing; their follower is closed by the next snapshot that no
// longer lists them.
bool MayFollow(const NetnsEntry& entry) {
  return entry.is_host || entry.is_own || !entry.netns_name.empty();
}

// Subscribes to the calling thread's namespace's conntrack events; null
// where that is not possible (no CAP_NET_ADMIN, events off): the namespace
// is then read in full each time, as before.
std::unique_ptr<ConntrackFollower> StartFollower(int resync_every) {
  absl::StatusOr<std::unique_ptr<ConntrackEventSource>> events =
      SubscribeConntrackEvents("/proc", size_t{16} << 20);
  if (!events.ok()) {
    GP_LOG_DEBUG("conntrack not followed: {}", events.status().message());
    return nullptr;
  }
  ConntrackFollowerOptions options;
  options.resync_every = resync_every;
  return std::make_unique<ConntrackFollower>(
      *std::move(events),
      [] {
        std::optional<TranslationReadOptions> how =
            HowToReadTranslations("/proc");
        return how.has_value() ? ReadTranslationsHere("/proc", *how)
                               : NamespaceTranslations();
      },
      [] {
        std::optional<TranslationReadOptions> how =
            HowToReadTranslations("/proc");
        if (!how.has_value()) return NamespaceTranslations();
        how->read_conntrack = false;
        return ReadTranslationsHere("/proc", *how);
      },
      options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Snapshotter>> Snapshotter::Create(
    SnapshotterOptions options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("SnapshotterOptions.clock is null");
  }
  if (options.node.empty()) options.node = HostName();
  absl::StatusOr<std::unique_ptr<NamespaceWorker>> worker =
      NamespaceWorker::Create();
  if (!worker.ok()) return worker.status();
  return std::unique_ptr<Snapshotter>(
      new Snapshotter(std::move(options), *std::move(worker)));
}

Snapshotter::Snapshotter(SnapshotterOptions options,
                         std::unique_ptr<NamespaceWorker> worker)
    : options_(std::move(options)),
      worker_(std::move(worker)),
      process_index_(options_.proc_root, ScanThreads(options_.scan_threads)) {
  utsname uts;
  if (uname(&uts) == 0) kernel_release_ = RepairUtf8(uts.release);
}

absl::StatusOr<v1::NodeSnapshot> Snapshotter::Take() {
  const SteadyClock::time_point start = SteadyClock::now();
  v1::NodeSnapshot snapshot;
  snapshot.set_node(options_.node);
  *snapshot.mutable_taken_at() = ToProto(options_.clock->Now());
  snapshot.set_agent_version(kVersion);
  snapshot.set_kernel(kernel_release_);

  NamespaceListOptions list_options;
  list_options.proc_root = options_.proc_root;
  list_options.netns_dirs = options_.netns_dirs;
  list_options.own_netns = options_.own_netns;
  absl::StatusOr<NamespaceListing> listing = ListNamespaces(list_options);
  if (!listing.ok()) return listing.status();
  if (!options_.netns_only.empty()) {
    auto& namespaces = listing->namespaces;
    namespaces.erase(
        std::remove_if(namespaces.begin(), namespaces.end(),
                       [this](const NetnsEntry& entry) {
                         for (const std::string& glob : options_.netns_only) {
                           if (fnmatch(glob.c_str(), entry.netns_name.c_str(),
                                       0) == 0) {
                             return false;
                           }
                         }
                         return true;
                       }),
        namespaces.end());
  }

  // Namespaces that are gone: close their sockets, which also stops us
  // keeping them alive.
  absl::flat_hash_set<NamespaceKey> present;
  for (const NetnsEntry& entry : listing->namespaces) present.insert(entry.key);
  for (auto it = sockets_.begin(); it != sockets_.end();) {
    if (present.contains(it->first)) {
      ++it;
    } else {
      sockets_.erase(it++);
    }
  }
  for (auto it = followers_.begin(); it != followers_.end();) {
    if (present.contains(it->first)) {
      ++it;
    } else {
      followers_.erase(it++);
    }
  }

  // 0. Attribution starts with the processes that exist now. A first
  //    snapshot needs nearly every fd table of them (nothing is cached
  //    yet): those are read beside the dump, which keeps one core busy in
  //    the kernel walking the sockets themselves.
  std::vector<int> live_pids;
  JoinOnExit prefetch;
  if (options_.attribute_processes) {
    for (const NetnsEntry& entry : listing->namespaces) {
      live_pids.insert(live_pids.end(), entry.pids.begin(), entry.pids.end());
    }
    std::sort(live_pids.begin(), live_pids.end());
    // Pids that vanish between the listing and their use are not found.
    process_index_.BeginSnapshot(live_pids);
    if (process_index_.cold()) {
      prefetch.thread = std::thread(
          [this, &live_pids] { process_index_.Prefetch(live_pids); });
    }
  }

  // 1. Translations (conntrack, IPVS), read on the namespace worker, one hop
  //    per namespace, while this thread dumps sockets through the netlink
  //    sockets it keeps: the hops and table walks overlap the dumps
  //    instead of adding to them.
  std::vector<NamespaceTranslations> translations;
  std::vector<absl::Status> translations_entered;
  absl::Duration translation_read;
  JoinOnExit translation_reader;
  if (options_.translations) {
    translation_reader.thread = std::thread([&] {
      const SteadyClock::time_point read_start = SteadyClock::now();
      ReadTranslations(listing->namespaces, &translations,
                       &translations_entered);
      translation_read = Since(read_start);
    });
  }

  // 2. Sockets and addresses, namespace by namespace.
  const SteadyClock::time_point dump_start = SteadyClock::now();
  std::vector<std::pair<int, int>> ranges;  // each namespace's sockets
  ranges.reserve(listing->namespaces.size());
  v1::SnapshotStats* stats = snapshot.mutable_stats();
  for (const NetnsEntry& entry : listing->namespaces) {
    v1::NamespaceInfo* info = snapshot.add_namespaces();
    info->set_inode(entry.key.inode);
    // The entry keeps the file's real bytes (it is opened by them); what is
    // reported must be UTF-8, and anyone who may write /run/netns names it.
    info->set_netns_name(RepairUtf8(entry.netns_name));
    info->set_pid(entry.pids.empty() ? 0 : entry.pids.front());
    info->set_is_host(entry.is_host);
    info->set_path(RepairUtf8(entry.path));
    const int begin = snapshot.sockets_size();
    CaptureNamespace(entry, info, &snapshot);
    ranges.emplace_back(begin, snapshot.sockets_size());
    info->set_socket_count(snapshot.sockets_size() - begin);
    if (info->status() == v1::NAMESPACE_STATUS_FAILED) {
      stats->set_namespaces_failed(stats->namespaces_failed() + 1);
      GP_LOG_DEBUG("namespace {} ({}) failed: {}", entry.key.inode, entry.path,
                   info->error());
    } else if (info->status() == v1::NAMESPACE_STATUS_FALLBACK) {
      stats->set_namespaces_fallback(stats->namespaces_fallback() + 1);
    }
  }
  if (!options_.keep_namespace_sockets) sockets_.clear();
  *stats->mutable_dump_duration() = ToProto(Since(dump_start));

  // 3. Each socket to a translated address gets its real backend.
  if (options_.translations) {
    translation_reader.Join();
    ApplyTranslations(std::move(translations), translations_entered,
                      translation_read, &snapshot);
  } else {
    snapshot.set_translation_status(kTranslationsOff);
  }

  // 4. Who owns each socket, and which container that is.
  const SteadyClock::time_point attribution_start = SteadyClock::now();
  if (options_.attribute_processes) {
    prefetch.Join();
    Attribute(listing->namespaces, ranges, &snapshot);
  }
  *stats->mutable_attribution_duration() = ToProto(Since(attribution_start));
  // After Docker's word (Attribute), the operator's cluster-wide ranges.
  if (!options_.cluster_prefixes.empty()) {
    for (v1::NamespaceInfo& ns : *snapshot.mutable_namespaces()) {
      ScopeByPrefixes(options_.cluster_prefixes, &ns);
    }
  }

  stats->set_namespaces_seen(snapshot.namespaces_size());
  stats->set_sockets(snapshot.sockets_size());
  *stats->mutable_duration() = ToProto(Since(start));
  return snapshot;
}

void Snapshotter::CaptureNamespace(const NetnsEntry& entry,
                                   v1::NamespaceInfo* info,
                                   v1::NodeSnapshot* snapshot) {
  const auto fall_back = [&](absl::string_view why) {
    absl::Status status = CaptureFromProc(entry, snapshot);
    if (status.ok()) {
      info->set_status(v1::NAMESPACE_STATUS_FALLBACK);
      AppendError(info, absl::StrCat(why, "; sockets read from /proc"));
    } else {
      info->set_status(v1::NAMESPACE_STATUS_FAILED);
      AppendError(info, absl::StrCat(why, "; ", status.message()));
    }
  };

  absl::StatusOr<NamespaceSockets*> sockets = SocketsFor(entry);
  if (!sockets.ok()) {
    // Could not even enter the namespace: no addresses either.
    if (IsRefusal(sockets.status())) {
      fall_back(sockets.status().message());
    } else {
      info->set_status(v1::NAMESPACE_STATUS_FAILED);
      AppendError(info, sockets.status().message());
    }
    return;
  }

  if ((*sockets)->route.is_open()) {
    absl::StatusOr<RtnetlinkDump> dump =
        DumpInterfaceAddresses((*sockets)->route);
    if (dump.ok()) {
      for (v1::InterfaceAddress& address : ObservableAddresses(*dump)) {
        *info->add_addresses() = std::move(address);
      }
      if (dump->dump_interrupted) {
        info->set_addresses_incomplete(true);
        AppendError(info,
                    "addresses: changed during every dump attempt; some may "
                    "be missing");
      }
    } else {
      info->set_addresses_incomplete(true);
      AppendError(info, absl::StrCat("addresses: ", dump.status().message()));
    }
  } else {
    info->set_addresses_incomplete(true);
    AppendError(info,
                absl::StrCat("addresses: ", (*sockets)->route_error.message()));
  }

  if (options_.capture == CaptureMode::kProcNetTcp) {
    fall_back("capture mode is /proc");
    return;
  }
  if (!(*sockets)->diag.is_open()) {
    if (IsRefusal((*sockets)->diag_error)) {
      fall_back((*sockets)->diag_error.message());
    } else {
      info->set_status(v1::NAMESPACE_STATUS_FAILED);
      AppendError(info, (*sockets)->diag_error.message());
    }
    return;
  }
  SockDiagParseResult result;
  absl::Status status = DumpSockets((*sockets)->diag, &result);
  if (!status.ok()) {
    sockets_.erase(entry.key);  // reopen next time
    if (IsRefusal(status)) {
      fall_back(status.message());
    } else {
      info->set_status(v1::NAMESPACE_STATUS_FAILED);
      AppendError(info, status.message());
    }
    return;
  }
  // Connected UDP in the same namespace hop. Its failure costs the
  // namespace its UDP sockets only: TCP, the main concern, stays reported.
  bool reopen = false;
  if (udp_unavailable_.ok()) {
    status = DumpConnectedUdpSockets((*sockets)->diag, &result);
    if (absl::IsNotFound(status) || IsRefusal(status)) {
      // No UDP sock_diag handler in this kernel (udp_diag missing): the same
      // answer in every namespace, so ask no more.
      udp_unavailable_ = status;
      GP_LOG_WARN("UDP sockets cannot be dumped: {}",
                  std::string(status.message()));
    } else if (!status.ok()) {
      AppendError(info, absl::StrCat("udp: ", status.message()));
      reopen = true;
    }
  }
  if (!udp_unavailable_.ok()) {
    AppendError(info, absl::StrCat("udp sockets not dumped: ",
                                   udp_unavailable_.message()));
  }
  if (result.dump_interrupted) {
    AppendError(info,
                "socket table changed during every dump attempt: sockets may "
                "be missing or listed twice");
  }
  for (v1::SocketRecord& record : result.records) {
    record.set_node(options_.node);
    record.set_netns_inode(entry.key.inode);
  }
  MoveRecords(result.records, snapshot->mutable_sockets());
  info->set_status(v1::NAMESPACE_STATUS_OK);
  if (reopen) sockets_.erase(entry.key);  // a failed dump may leave replies
}

void Snapshotter::ReadTranslations(const std::vector<NetnsEntry>& namespaces,
                                   std::vector<NamespaceTranslations>* out,
                                   std::vector<absl::Status>* entered) {
  out->resize(namespaces.size());
  entered->resize(namespaces.size());
  for (size_t i = 0; i < namespaces.size(); ++i) {
    const NetnsEntry& entry = namespaces[i];
    NamespaceTranslations* tables = &(*out)[i];
    // /proc, not proc_root: ReadTranslationsHere reads the worker thread's
    // own /proc/thread-self/net, which follows the thread into the namespace.
    auto follower = followers_.find(entry.key);
    std::unique_ptr<ConntrackFollower> started;
    bool may_hold = true;
    (*entered)[i] = worker_->RunIn(entry.is_own ? "" : entry.path, [&]() {
      std::optional<TranslationReadOptions> how =
          HowToReadTranslations("/proc");
      may_hold = how.has_value();
      if (!may_hold) return absl::OkStatus();
      if (follower != followers_.end()) {
        *tables = follower->second->Read();
        return absl::OkStatus();
      }
      const SteadyClock::time_point read_start = SteadyClock::now();
      *tables = ReadTranslationsHere("/proc", *how);
      if (MayFollow(entry) && tables->error.empty() &&
          (ConntrackFlows(tables->flows) >= options_.follow_conntrack_from ||
           Since(read_start) >= options_.follow_conntrack_after)) {
        started = StartFollower(options_.conntrack_resync_every);
      }
      return absl::OkStatus();
    });
    // Nothing left to follow (its conntrack is empty or gone): stop.
    if (!may_hold && follower != followers_.end()) followers_.erase(follower);
    if (started != nullptr) followers_[entry.key] = std::move(started);
  }
}

void Snapshotter::ApplyTranslations(
    std::vector<NamespaceTranslations> translations,
    const std::vector<absl::Status>& entered, absl::Duration read_duration,
    v1::NodeSnapshot* snapshot) {
  const SteadyClock::time_point join_start = SteadyClock::now();
  v1::SnapshotStats* stats = snapshot->mutable_stats();
  std::vector<TranslationTable> tables;
  tables.reserve(translations.size());
  uint32_t flows = 0;
  uint32_t failed = 0;
  for (size_t i = 0; i < translations.size(); ++i) {
    v1::NamespaceInfo* info = snapshot->mutable_namespaces(static_cast<int>(i));
    NamespaceTranslations& read = translations[i];
    std::string error;
    if (!entered[i].ok()) {
      // Gone between the listing and the hop: it translates nothing now.
      if (!absl::IsNotFound(entered[i])) {
        error = absl::StrCat("cannot enter: ", entered[i].message());
      }
    } else {
      error = std::move(read.error);
      if (read.ipvs.has_value()) {
        v1::IpvsSettings* ipvs = info->mutable_ipvs();
        ipvs->set_expire_nodest_conn(read.ipvs->expire_nodest_conn);
        ipvs->set_expire_quiescent_template(
            read.ipvs->expire_quiescent_template);
        ipvs->set_conn_reuse_mode(read.ipvs->conn_reuse_mode);
      }
      flows += static_cast<uint32_t>(read.flows.size());
      if (!read.flows.empty()) {
        tables.push_back({info->inode(), std::move(read.flows)});
      }
    }
    if (error.empty()) continue;
    info->set_translation_error(RepairUtf8(error));
    ++failed;
  }
  const JoinResult joined =
      JoinTranslations(tables, snapshot->mutable_sockets());
  if (joined.ambiguous > 0) {
    GP_LOG_DEBUG("{} of {} translated sockets had several candidate backends",
                 joined.ambiguous, joined.translated);
  }
  stats->set_translations(flows);
  stats->set_translation_namespaces_failed(failed);
  *stats->mutable_translation_duration() =
      ToProto(read_duration + Since(join_start));
  snapshot->set_translation_status(TranslationStatus(*snapshot));
}

absl::StatusOr<Snapshotter::NamespaceSockets*> Snapshotter::SocketsFor(
    const NetnsEntry& entry) {
  auto it = sockets_.find(entry.key);
  if (it != sockets_.end()) return it->second.get();
  auto sockets = std::make_unique<NamespaceSockets>();
  NamespaceSockets* raw = sockets.get();
  // Only socket() must happen inside the namespace: the sockets report on the
  // namespace they were created in from whichever thread uses them.
  absl::Status status = worker_->RunIn(entry.is_own ? "" : entry.path, [raw]() {
    absl::StatusOr<NetlinkSocket> diag = NetlinkSocket::Open(NETLINK_SOCK_DIAG);
    if (diag.ok()) {
      raw->diag = *std::move(diag);
    } else {
      raw->diag_error = diag.status();
    }
    absl::StatusOr<NetlinkSocket> route = NetlinkSocket::Open(NETLINK_ROUTE);
    if (route.ok()) {
      raw->route = *std::move(route);
    } else {
      raw->route_error = route.status();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sockets_.emplace(entry.key, std::move(sockets)).first->second.get();
}

absl::Status Snapshotter::DumpSockets(NetlinkSocket& diag,
                                      SockDiagParseResult* result) {
  if (single_walk_dump_) {
    absl::Status status = DumpTcpSockets(diag, DiagFamily::kAll, result);
    if (status.ok() || IsRefusal(status) ||
        !(absl::IsInvalidArgument(status) || absl::IsNotFound(status))) {
      return status;
    }
    GP_LOG_INFO("kernel refused a single-walk TCP dump ({}): one per family",
                std::string(status.message()));
    single_walk_dump_ = false;
  }
  SockDiagParseResult ipv6;
  absl::Status status = DumpTcpSockets(diag, DiagFamily::kIpv4, result);
  if (!status.ok()) return status;
  status = DumpTcpSockets(diag, DiagFamily::kIpv6, &ipv6);
  if (!status.ok()) return status;
  result->dump_interrupted = result->dump_interrupted || ipv6.dump_interrupted;
  MoveRecords(ipv6.records, &result->records);
  return absl::OkStatus();
}

absl::Status Snapshotter::DumpConnectedUdpSockets(NetlinkSocket& diag,
                                                  SockDiagParseResult* result) {
  for (DiagFamily family : {DiagFamily::kIpv4, DiagFamily::kIpv6}) {
    SockDiagParseResult udp;
    absl::Status status = DumpUdpSockets(diag, family, &udp);
    if (!status.ok()) return status;
    result->dump_interrupted = result->dump_interrupted || udp.dump_interrupted;
    MoveRecords(udp.records, &result->records);
  }
  return absl::OkStatus();
}

absl::Status Snapshotter::CaptureFromProc(const NetnsEntry& entry,
                                          v1::NodeSnapshot* snapshot) {
  if (entry.pids.empty()) {
    return absl::FailedPreconditionError(
        "no process inside to read /proc/<pid>/net/tcp from");
  }
  const int pid = entry.pids.front();
  int files_read = 0;
  struct File {
    const char* name;
    int family;
    bool udp;
  };
  for (const File& file :
       {File{"tcp", AF_INET, false}, File{"tcp6", AF_INET6, false},
        File{"udp", AF_INET, true}, File{"udp6", AF_INET6, true}}) {
    const std::string path =
        absl::StrCat(options_.proc_root, "/", pid, "/net/", file.name);
    absl::StatusOr<std::string> content = ReadSmallFile(path, size_t{1} << 30);
    if (absl::IsNotFound(content.status())) continue;  // e.g. no IPv6
    if (!content.ok()) return content.status();
    absl::StatusOr<ProcNetTcpResult> parsed =
        file.udp ? ParseProcNetUdp(*content, file.family)
                 : ParseProcNetTcp(*content, file.family);
    if (!parsed.ok()) return parsed.status();
    if (!file.udp) ++files_read;
    for (v1::SocketRecord& record : parsed->records) {
      record.set_node(options_.node);
      record.set_netns_inode(entry.key.inode);
      snapshot->mutable_sockets()->Add(std::move(record));
    }
  }
  if (files_read == 0) {
    return absl::NotFoundError(
        absl::StrCat(options_.proc_root, "/", pid, "/net/tcp{,6} missing"));
  }
  return absl::OkStatus();
}

void DescribeNamespace(const ContainerInfo& container, v1::NamespaceInfo* ns) {
  ns->set_container_name(container.name);
  ns->set_service(container.service);
  ns->set_task(container.task);
  ns->set_task_slot(container.task_slot);
  ns->set_node_id(container.node_id);
  ns->set_image(container.image);
  // Docker's word on each address's network; the rest stay unspecified and
  // the address tracker scopes them conservatively.
  for (v1::InterfaceAddress& address : *ns->mutable_addresses()) {
    auto scope = container.address_scopes.find(address.address());
    if (scope != container.address_scopes.end()) {
      address.set_scope(scope->second);
    }
  }
}

void ScopeByPrefixes(absl::Span<const InetPrefix> cluster_prefixes,
                     v1::NamespaceInfo* ns) {
  for (v1::InterfaceAddress& address : *ns->mutable_addresses()) {
    if (address.scope() != v1::ADDRESS_SCOPE_UNSPECIFIED) continue;
    for (const InetPrefix& prefix : cluster_prefixes) {
      if (PrefixContains(prefix, address.address())) {
        address.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
        break;
      }
    }
  }
}

void Snapshotter::Attribute(const std::vector<NetnsEntry>& namespaces,
                            const std::vector<std::pair<int, int>>& ranges,
                            v1::NodeSnapshot* snapshot) {
  absl::flat_hash_map<std::string, std::optional<ContainerInfo>> containers;
  const auto lookup = [&](const std::string& id) -> const ContainerInfo* {
    if (options_.container_resolver == nullptr || id.empty()) return nullptr;
    auto it = containers.find(id);
    if (it == containers.end()) {
      it =
          containers.emplace(id, options_.container_resolver->Lookup(id)).first;
    }
    return it->second.has_value() ? &*it->second : nullptr;
  };

  absl::flat_hash_map<uint64_t, int> owners;
  std::vector<uint64_t> inodes;
  for (size_t i = 0; i < namespaces.size(); ++i) {
    const NetnsEntry& entry = namespaces[i];
    v1::NamespaceInfo* info = snapshot->mutable_namespaces(static_cast<int>(i));
    // The namespace's container is its processes': the first one still
    // alive says which. Taking only the first pid made a namespace whose
    // first process had just exited flap between container and bare
    // namespace, which the aggregator sees as the address changing hands.
    for (int pid : entry.pids) {
      if (const ProcessIdentity* identity = process_index_.Identity(pid)) {
        info->set_container_id(identity->container_id.value_or(""));
        break;
      }
    }
    if (const ContainerInfo* container = lookup(info->container_id())) {
      DescribeNamespace(*container, info);
    }

    const auto [begin, end] = ranges[i];
    inodes.clear();
    for (int s = begin; s < end; ++s) {
      inodes.push_back(snapshot->sockets(s).inode());
    }
    owners.clear();
    process_index_.ResolveOwners(entry.pids, inodes, &owners);
    for (int s = begin; s < end; ++s) {
      v1::SocketRecord* record = snapshot->mutable_sockets(s);
      auto owner = owners.find(record->inode());
      if (owner == owners.end()) continue;
      record->set_pid(owner->second);
      const ProcessIdentity* identity = process_index_.Identity(owner->second);
      if (identity == nullptr) continue;
      record->set_comm(identity->comm);
      if (!identity->container_id.has_value()) continue;
      record->set_container_id(*identity->container_id);
      if (const ContainerInfo* container = lookup(*identity->container_id)) {
        record->set_container_name(container->name);
        record->set_service(container->service);
        record->set_task(container->task);
        record->set_task_slot(container->task_slot);
        record->set_node_id(container->node_id);
      }
    }
  }
}

}  // namespace ghostpeer::agent
