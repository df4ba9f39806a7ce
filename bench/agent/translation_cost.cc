#include "bench/agent/translation_cost.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/namespace_worker.h"
#include "agent/netlink_socket.h"
#include "agent/snapshotter.h"
#include "agent/translation.h"
#include "bench/agent/dump_floor.h"
#include "tests/support/command.h"

namespace ghostpeer::agent {
namespace {

using SteadyClock = std::chrono::steady_clock;
using ::ghostpeer::testing::KillAndReap;
using ::ghostpeer::testing::RunCommand;
using ::ghostpeer::testing::SpawnInNamespace;
using ::ghostpeer::testing::WriteSysctlsIn;

constexpr char kVip[] = "10.88.9.9";
constexpr char kBackend[] = "10.88.0.1";
constexpr uint16_t kPort = 8080;

double Milliseconds(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

sockaddr_in Address(const char* ip, uint16_t port) {
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, ip, &address.sin_addr);
  return address;
}

// Child body (syscalls only): a listener that never accepts, `flows` client
// connections to the VIP (the accept queue holds the server ends, so only
// the clients cost fds), then report the count and wait to be killed.
void OpenFlows(int flows, int ready_fd) {
  sockaddr_in backend = Address(kBackend, kPort);
  sockaddr_in vip = Address(kVip, kPort);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (bind(listener, reinterpret_cast<sockaddr*>(&backend), sizeof(backend)) !=
          0 ||
      listen(listener, 65535) != 0) {
    _exit(30);
  }
  int made = 0;
  for (; made < flows; ++made) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&vip), sizeof(vip)) != 0) {
      break;
    }
  }
  if (write(ready_fd, &made, sizeof(made)) != sizeof(made)) _exit(31);
  pause();
}

// The namespace, its DNAT rule and the holder; all removed by the
// destructor (the holder by pid, the namespace by name).
class NatNamespace {
 public:
  explicit NatNamespace(std::string name) : name_(std::move(name)) {}
  ~NatNamespace() {
    if (holder_ > 0) KillAndReap(holder_).IgnoreError();
    if (created_) {
      RunCommand({"ip", "netns", "del", name_}).status().IgnoreError();
    }
  }

  absl::Status Build(int flows) {
    absl::StatusOr<std::string> out = RunCommand({"ip", "netns", "add", name_});
    if (!out.ok()) return out.status();
    created_ = true;
    const std::vector<std::vector<std::string>> commands = {
        {"ip", "-n", name_, "link", "set", "lo", "up"},
        // A veth pair with both ends inside (this kernel has no dummy
        // driver): only an address for the VIP's route and the listener.
        {"ip", "-n", name_, "link", "add", "d0", "type", "veth", "peer", "name",
         "d1"},
        {"ip", "-n", name_, "link", "set", "d1", "up"},
        {"ip", "-n", name_, "addr", "add", absl::StrCat(kBackend, "/16"), "dev",
         "d0"},
        {"ip", "-n", name_, "link", "set", "d0", "up"},
        {"ip", "netns", "exec", name_, "iptables", "-t", "nat", "-A", "OUTPUT",
         "-d", absl::StrCat(kVip, "/32"), "-p", "tcp", "--dport",
         absl::StrCat(kPort), "-j", "DNAT", "--to-destination",
         absl::StrCat(kBackend, ":", kPort)},
    };
    for (const std::vector<std::string>& argv : commands) {
      out = RunCommand(argv);
      if (!out.ok()) return out.status();
    }
    // The accept queue must hold every server end.
    absl::Status sysctls =
        WriteSysctlsIn(name_, {{"net.core.somaxconn", "65535"},
                               {"net.ipv4.tcp_max_syn_backlog", "65535"}});
    if (!sysctls.ok()) return sysctls;
    int ready[2];
    if (pipe(ready) != 0) return absl::InternalError("pipe");
    const int write_end = ready[1];
    absl::StatusOr<pid_t> pid =
        SpawnInNamespace(name_, [=] { OpenFlows(flows, write_end); });
    close(ready[1]);
    if (!pid.ok()) {
      close(ready[0]);
      return pid.status();
    }
    holder_ = *pid;
    pollfd fd = {ready[0], POLLIN, 0};
    int made = 0;
    const bool ok = poll(&fd, 1, 120000) == 1 &&
                    read(ready[0], &made, sizeof(made)) == sizeof(made);
    close(ready[0]);
    if (!ok || made != flows) {
      return absl::InternalError(
          absl::StrCat("holder opened ", made, " of ", flows, " flows"));
    }
    return absl::OkStatus();
  }

  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }

 private:
  std::string name_;
  bool created_ = false;
  pid_t holder_ = 0;
};

// `conntrack -L` exec'd by a child that setns'd into `netns_path` (no `ip
// netns exec` overhead: conntrack's own cost), output to /dev/null.
absl::StatusOr<double> TimeConntrackList(const std::string& netns_path) {
  const int target = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) return absl::InternalError("open " + netns_path);
  const SteadyClock::time_point start = SteadyClock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    close(target);
    return absl::InternalError("fork");
  }
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (setns(target, CLONE_NEWNET) != 0 || null < 0) _exit(126);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execlp("conntrack", "conntrack", "-L", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(target);
  int status = 0;
  // Bounded: a few hundred ms for 10,000 flows; 60 s means it hangs.
  for (int i = 0; i < 120000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return absl::InternalError("conntrack -L failed");
      }
      return Milliseconds(SteadyClock::now() - start);
    }
    usleep(500);
  }
  KillAndReap(pid).IgnoreError();
  return absl::DeadlineExceededError("conntrack -L timed out");
}

struct SnapshotFigures {
  double total_ms = 0;
  double dump_ms = 0;
  double translation_ms = 0;
  uint32_t translated = 0;  // sockets given a backend
  uint32_t sockets = 0;
};

// Whole snapshots of the node (or of `only` when not empty) without
// translations, with translations read in full every time, and with them
// followed (SnapshotterOptions::follow_conntrack_from, the agent's
// default), alternated so all see the same machine state, after one cold
// snapshot of each (sockets to open, fd tables to read). The followed
// snapshotter re-reads the table in full every conntrack_resync_every
// snapshots: the median shows the usual snapshot, the mean what it costs
// on average, resyncs included.
absl::Status CompareSnapshots(const std::string& title, const std::string& only,
                              int repetitions, int flows) {
  enum { kWithout, kFull, kFollowed, kKinds };
  const char* const names[kKinds] = {"without", "read in full",
                                     "followed (agent default)"};
  std::unique_ptr<Snapshotter> snapshotters[kKinds];
  for (int kind = 0; kind < kKinds; ++kind) {
    SnapshotterOptions options;
    options.node = "bench";
    options.translations = kind != kWithout;
    if (kind == kFull) {
      options.follow_conntrack_from = std::numeric_limits<size_t>::max();
      options.follow_conntrack_after = absl::InfiniteDuration();
    }
    if (!only.empty()) options.netns_only = {only};
    absl::StatusOr<std::unique_ptr<Snapshotter>> created =
        Snapshotter::Create(std::move(options));
    if (!created.ok()) return created.status();
    snapshotters[kind] = *std::move(created);
  }
  std::vector<double> totals[kKinds], dumps[kKinds], translations[kKinds];
  SnapshotFigures last[kKinds];
  for (int rep = -1; rep < repetitions; ++rep) {
    for (int kind = 0; kind < kKinds; ++kind) {
      absl::StatusOr<v1::NodeSnapshot> snapshot = snapshotters[kind]->Take();
      if (!snapshot.ok()) return snapshot.status();
      SnapshotFigures& figures = last[kind];
      figures.total_ms =
          absl::ToDoubleMilliseconds(FromProto(snapshot->stats().duration()));
      figures.dump_ms = absl::ToDoubleMilliseconds(
          FromProto(snapshot->stats().dump_duration()));
      figures.translation_ms = absl::ToDoubleMilliseconds(
          FromProto(snapshot->stats().translation_duration()));
      figures.sockets = snapshot->stats().sockets();
      figures.translated = 0;
      for (const v1::SocketRecord& socket : snapshot->sockets()) {
        if (!socket.backend_ip().empty()) ++figures.translated;
      }
      if (rep < 0) continue;
      totals[kind].push_back(figures.total_ms);
      dumps[kind].push_back(figures.dump_ms);
      translations[kind].push_back(figures.translation_ms);
    }
  }
  for (int kind = kFull; kind < kKinds; ++kind) {
    if (last[kind].translated < static_cast<uint32_t>(flows)) {
      return absl::InternalError(absl::StrCat(title, ", ", names[kind], ": ",
                                              last[kind].translated, " of ",
                                              flows, " sockets translated"));
    }
  }
  const auto mean = [](const std::vector<double>& values) {
    double sum = 0;
    for (double value : values) sum += value;
    return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
  };
  std::printf(
      "  snapshot, %s (%u sockets, %d repetitions): without translations "
      "median %.2f ms (dump %.2f), mean %.2f\n",
      title.c_str(), last[kWithout].sockets, repetitions,
      Median(totals[kWithout]), Median(dumps[kWithout]),
      mean(totals[kWithout]));
  for (int kind = kFull; kind < kKinds; ++kind) {
    std::printf(
        "    with translations %s: median %.2f ms (dump %.2f, translations "
        "%.2f), mean %.2f; %u sockets translated: ratio median %.2fx, mean "
        "%.2fx (target <= 1.2x)\n",
        names[kind], Median(totals[kind]), Median(dumps[kind]),
        Median(translations[kind]), mean(totals[kind]), last[kind].translated,
        Median(totals[kind]) / Median(totals[kWithout]),
        mean(totals[kind]) / mean(totals[kWithout]));
  }
  const Snapshotter::FollowStats followed =
      snapshotters[kFollowed]->follow_stats();
  std::printf(
      "    followed: %zu namespaces, %llu full reads, %llu events applied\n",
      followed.namespaces, static_cast<unsigned long long>(followed.resyncs),
      static_cast<unsigned long long>(followed.events));
  std::fflush(stdout);
  return absl::OkStatus();
}

// The floor: the same ctnetlink dump, replies walked but not parsed (the
// kernel's walk of the conntrack hash and the copies, nothing of ours).
absl::Status RawConntrackDump(uint64_t* messages) {
  absl::StatusOr<NetlinkSocket> socket = NetlinkSocket::Open(NETLINK_NETFILTER);
  if (!socket.ok()) return socket.status();
  *messages = 0;
  const uint32_t seq = socket->NextSeq();
  return socket->Dump(BuildConntrackDumpRequest(seq), seq,
                      CountMessages(messages));
}

}  // namespace

absl::Status RunTranslationCost(int flows, int repetitions) {
  std::printf("\n== translations: 1 namespace x %d DNAT'ed TCP flows\n", flows);
  std::fflush(stdout);
  if (!RunCommand({"conntrack", "--version"}).ok() ||
      !RunCommand({"iptables", "--version"}).ok()) {
    return absl::UnavailableError(
        "needs conntrack and iptables (scripts/install-deps.sh)");
  }
  NatNamespace ns(absl::StrCat("gpb-xr-", getpid()));
  const SteadyClock::time_point setup = SteadyClock::now();
  absl::Status status = ns.Build(flows);
  if (!status.ok()) return status;
  std::printf("  setup: %.1f s\n",
              Milliseconds(SteadyClock::now() - setup) / 1000);

  absl::StatusOr<std::unique_ptr<NamespaceWorker>> worker =
      NamespaceWorker::Create();
  if (!worker.ok()) return worker.status();
  std::vector<double> ours, ours_with_setns, theirs, proc_file, floor;
  size_t found = 0;
  uint64_t floor_messages = 0;
  // Alternate the two, after one warm-up of each (page cache, binaries).
  for (int rep = -1; rep < repetitions; ++rep) {
    double inner = 0;
    const SteadyClock::time_point outer = SteadyClock::now();
    status = (*worker)->RunIn(ns.path(), [&] {
      const SteadyClock::time_point start = SteadyClock::now();
      const NamespaceTranslations read = ReadTranslationsHere("/proc");
      inner = Milliseconds(SteadyClock::now() - start);
      found = read.flows.size();
      return read.error.empty() ? absl::OkStatus()
                                : absl::InternalError(read.error);
    });
    if (!status.ok()) return status;
    const double with_setns = Milliseconds(SteadyClock::now() - outer);
    status = (*worker)->RunIn(ns.path(), [&] {
      TranslationReadOptions proc_only;
      proc_only.use_ctnetlink = false;
      const SteadyClock::time_point start = SteadyClock::now();
      const NamespaceTranslations read =
          ReadTranslationsHere("/proc", proc_only);
      proc_file.push_back(Milliseconds(SteadyClock::now() - start));
      return read.flows.size() >= static_cast<size_t>(flows)
                 ? absl::OkStatus()
                 : absl::InternalError(absl::StrCat("/proc read ",
                                                    read.flows.size(),
                                                    " flows: ", read.error));
    });
    if (!status.ok()) return status;
    if (rep < 0) proc_file.clear();
    double bare = 0;
    status = (*worker)->RunIn(ns.path(), [&] {
      const SteadyClock::time_point start = SteadyClock::now();
      absl::Status dumped = RawConntrackDump(&floor_messages);
      bare = Milliseconds(SteadyClock::now() - start);
      return dumped;
    });
    if (!status.ok()) return status;
    absl::StatusOr<double> listed = TimeConntrackList(ns.path());
    if (!listed.ok()) return listed.status();
    if (rep < 0) continue;
    ours.push_back(inner);
    ours_with_setns.push_back(with_setns);
    floor.push_back(bare);
    theirs.push_back(*listed);
  }
  if (found < static_cast<size_t>(flows)) {
    return absl::InternalError(
        absl::StrCat("ReadTranslationsHere found ", found, " of ", flows));
  }
  const double ours_ms = Median(ours);
  const double theirs_ms = Median(theirs);
  std::printf(
      "  ReadTranslationsHere (ctnetlink): median %.2f ms (%.2f ms with the "
      "setns hop), %zu flows\n",
      ours_ms, Median(ours_with_setns), found);
  std::printf(
      "  floor (the same dump, walked, not parsed): median %.2f ms, %llu "
      "messages\n",
      Median(floor), static_cast<unsigned long long>(floor_messages));
  std::printf("  conntrack -L (setns'd child, to /dev/null): median %.2f ms\n",
              theirs_ms);
  std::printf(
      "  ReadTranslationsHere (/proc/thread-self/net/nf_conntrack only): "
      "median %.2f ms\n",
      Median(proc_file));
  std::printf(
      "  ratio ReadTranslationsHere / conntrack -L: %.2fx (target <= 1.5x; "
      "fastest runs %.2fx), / floor: %.2fx; %d repetitions, alternated\n",
      ours_ms / theirs_ms,
      *std::min_element(ours.begin(), ours.end()) /
          *std::min_element(theirs.begin(), theirs.end()),
      ours_ms / Median(floor), repetitions);
  std::fflush(stdout);

  // The same flows in a whole snapshot: the namespace's own, and the
  // node's (every other namespace too, the host's conntrack walk with it).
  // At least two of the follower's periodic full reads (every 12) fall
  // inside the repetitions.
  const int snapshots = std::max(repetitions, 25);
  status =
      CompareSnapshots("the NAT namespace only", ns.name(), snapshots, flows);
  if (!status.ok()) return status;
  return CompareSnapshots("the whole node", "", snapshots, flows);
}

}  // namespace ghostpeer::agent
