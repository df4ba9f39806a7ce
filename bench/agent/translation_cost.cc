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
#include <chrono>
#include <cstdio>
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
        // The accept queue must hold every server end.
        {"ip", "netns", "exec", name_, "sysctl", "-qw",
         "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535"},
        {"ip", "netns", "exec", name_, "iptables", "-t", "nat", "-A", "OUTPUT",
         "-d", absl::StrCat(kVip, "/32"), "-p", "tcp", "--dport",
         absl::StrCat(kPort), "-j", "DNAT", "--to-destination",
         absl::StrCat(kBackend, ":", kPort)},
    };
    for (const std::vector<std::string>& argv : commands) {
      out = RunCommand(argv);
      if (!out.ok()) return out.status();
    }
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

// Whole snapshots of the node (or of `only` when not empty) with and
// without translations, alternated so both see the same machine state,
// after one cold snapshot of each (sockets to open, fd tables to read).
absl::Status CompareSnapshots(const std::string& title, const std::string& only,
                              int repetitions, int flows) {
  std::unique_ptr<Snapshotter> snapshotters[2];
  for (int with = 0; with < 2; ++with) {
    SnapshotterOptions options;
    options.node = "bench";
    options.translations = with == 1;
    if (!only.empty()) options.netns_only = {only};
    absl::StatusOr<std::unique_ptr<Snapshotter>> created =
        Snapshotter::Create(std::move(options));
    if (!created.ok()) return created.status();
    snapshotters[with] = *std::move(created);
  }
  std::vector<double> totals[2], dumps[2], translations;
  SnapshotFigures last[2];
  for (int rep = -1; rep < repetitions; ++rep) {
    for (int with = 0; with < 2; ++with) {
      absl::StatusOr<v1::NodeSnapshot> snapshot = snapshotters[with]->Take();
      if (!snapshot.ok()) return snapshot.status();
      SnapshotFigures& figures = last[with];
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
      totals[with].push_back(figures.total_ms);
      dumps[with].push_back(figures.dump_ms);
      if (with == 1) translations.push_back(figures.translation_ms);
    }
  }
  if (last[1].translated < static_cast<uint32_t>(flows)) {
    return absl::InternalError(absl::StrCat(
        title, ": ", last[1].translated, " of ", flows, " sockets translated"));
  }
  std::printf(
      "  snapshot, %s (%u sockets): without translations median %.2f ms "
      "(dump %.2f), with %.2f ms (dump %.2f, translations %.2f, %u sockets "
      "translated): ratio %.2fx (target <= 1.2x)\n",
      title.c_str(), last[1].sockets, Median(totals[0]), Median(dumps[0]),
      Median(totals[1]), Median(dumps[1]), Median(translations),
      last[1].translated, Median(totals[1]) / Median(totals[0]));
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
  status =
      CompareSnapshots("the NAT namespace only", ns.name(), repetitions, flows);
  if (!status.ok()) return status;
  return CompareSnapshots("the whole node", "", repetitions, flows);
}

}  // namespace ghostpeer::agent
