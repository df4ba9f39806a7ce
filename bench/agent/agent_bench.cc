// agent_bench: what a snapshot costs, measured against references taken in
// the same run on the same sockets (the machine is noisy; only ratios from
// one run compare). Needs root. For each case it creates network namespaces,
// each with a holder process (forked, setns'd into it) owning loopback
// connections, then reports:
//   - the raw netlink floor: one bare sock_diag dump per namespace (same
//     request, sockets opened beforehand), replies walked but not parsed;
//   - Snapshotter::Take(): its dump phase against the floor (target <= 1.5x),
//     and in total, warm (caches filled) and cold (a new Snapshotter);
//   - `ip netns exec NS ss -tinp state all` for every namespace, against a
//     whole `ghostpeer-agent --once` run (target <= 0.5x).
// Cases: 50 namespaces x 200 connections, 1 x 20,000 sockets, and a node
// with 100,000 sockets (one namespace). `--quick` shrinks them tenfold.
// Then "translations": the VIP translation dump over 10,000 DNAT'ed flows
// against `conntrack -L` (bench/agent/translation_cost.h).
// Every namespace and holder is removed at the end (by name, by pid).
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/namespace_worker.h"
#include "agent/namespaces.h"
#include "agent/netlink.h"
#include "agent/netlink_socket.h"
#include "agent/snapshotter.h"
#include "agent/sock_diag.h"
#include "bench/agent/dump_floor.h"
#include "bench/agent/translation_cost.h"
#include "tests/support/command.h"

namespace ghostpeer::agent {

// Connections one holder process may own: both ends are its fds, and
// without CAP_SYS_RESOURCE RLIMIT_NOFILE cannot be raised past its hard
// limit, so a namespace's connections are spread over several holders.
int connections_per_holder = 9000;
namespace {

using SteadyClock = std::chrono::steady_clock;
using ::ghostpeer::testing::KillAndReap;
using ::ghostpeer::testing::RunCommand;
using ::ghostpeer::testing::SpawnInNamespace;

double Seconds(SteadyClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Child body: `connections` loopback connections (both ends held), then
// report and wait to be killed. Syscalls only: we are a fork.
void HoldConnections(int connections, uint16_t port, int ready_fd) {
  // lo is down in a fresh namespace; 127.0.0.1 needs it up.
  const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq request = {};
  std::strcpy(request.ifr_name, "lo");
  request.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
  if (ioctl(ctl, SIOCSIFFLAGS, &request) != 0) _exit(30);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(listener, 4096) != 0) {
    _exit(31);
  }
  int made = 0;
  for (; made < connections; ++made) {
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 ||
        connect(client, reinterpret_cast<sockaddr*>(&address),
                sizeof(address)) != 0 ||
        accept(listener, nullptr, nullptr) < 0) {
      _exit(32);
    }
  }
  if (write(ready_fd, &made, sizeof(made)) != sizeof(made)) _exit(33);
  for (int i = 0; i < 3600; ++i) sleep(1);  // bounded: killed long before
}

class Fleet {
 public:
  ~Fleet() {
    for (pid_t pid : pids_) KillAndReap(pid).IgnoreError();
    for (const std::string& name : names_) {
      RunCommand({"ip", "netns", "del", name}).status().IgnoreError();
    }
  }

  absl::Status Add(int namespaces, int connections) {
    for (int n = 0; n < namespaces; ++n) {
      const std::string name =
          absl::StrCat("gpb", getpid(), "-", names_.size());
      absl::StatusOr<std::string> out =
          RunCommand({"ip", "netns", "add", name});
      if (!out.ok()) return out.status();
      names_.push_back(name);
      int left = connections;
      for (uint16_t port = 20000; left > 0; ++port) {
        const int share = std::min(left, connections_per_holder);
        left -= share;
        absl::Status status = Spawn(name, share, port);
        if (!status.ok()) return status;
      }
    }
    return absl::OkStatus();
  }

  const std::vector<std::string>& names() const { return names_; }
  size_t holders() const { return pids_.size(); }

 private:
  absl::Status Spawn(const std::string& name, int connections, uint16_t port) {
    int ready[2];
    if (pipe(ready) != 0) return absl::InternalError("pipe");
    const int write_end = ready[1];
    absl::StatusOr<pid_t> pid = SpawnInNamespace(
        name, [=] { HoldConnections(connections, port, write_end); });
    close(ready[1]);
    if (!pid.ok()) {
      close(ready[0]);
      return pid.status();
    }
    pids_.push_back(*pid);
    pollfd fd = {ready[0], POLLIN, 0};
    int made = 0;
    const bool ok = poll(&fd, 1, 300000) == 1 &&
                    read(ready[0], &made, sizeof(made)) == sizeof(made) &&
                    made == connections;
    close(ready[0]);
    if (!ok)
      return absl::InternalError(absl::StrCat("holder in ", name, " failed"));
    return absl::OkStatus();
  }

  std::vector<std::string> names_;
  std::vector<pid_t> pids_;
};

// Runs argv with stdout and stderr on /dev/null; returns seconds taken.
absl::StatusOr<double> TimeCommand(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const SteadyClock::time_point start = SteadyClock::now();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  // Bounded: ss -p over 100k sockets takes seconds, not minutes.
  for (int i = 0; i < 600000; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return absl::InternalError(absl::StrCat(argv[0], " failed"));
      }
      return Seconds(SteadyClock::now() - start);
    }
    usleep(500);
  }
  KillAndReap(pid).IgnoreError();
  return absl::DeadlineExceededError(absl::StrCat(argv[0], " timed out"));
}

// The floor: one bare dump per namespace, replies walked, nothing parsed.
absl::StatusOr<double> RawDumpFloor(std::vector<NetlinkSocket>& sockets,
                                    uint64_t* messages) {
  const SteadyClock::time_point start = SteadyClock::now();
  *messages = 0;
  for (NetlinkSocket& socket : sockets) {
    const uint32_t seq = socket.NextSeq();
    const std::vector<uint8_t> request =
        BuildTcpDumpRequest(DiagFamily::kAll, seq);
    absl::Status status = socket.Dump(request, seq, CountMessages(messages));
    if (!status.ok()) return status;
  }
  return Seconds(SteadyClock::now() - start);
}

absl::Status RunCase(const std::string& title, int namespaces, int connections,
                     bool compare_ss) {
  std::printf("\n== %s: %d namespace(s) x %d connections\n", title.c_str(),
              namespaces, connections);
  std::fflush(stdout);
  Fleet fleet;
  const SteadyClock::time_point setup = SteadyClock::now();
  absl::Status status = fleet.Add(namespaces, connections);
  if (!status.ok()) return status;
  std::printf("  setup: %.1f s, %zu holder processes\n",
              Seconds(SteadyClock::now() - setup), fleet.holders());

  // Floor sockets, opened beforehand inside every namespace the snapshot
  // will see (the node's own ones too: each dump walks the host's whole
  // socket hash, so the floor must pay for the same walks).
  absl::StatusOr<std::unique_ptr<NamespaceWorker>> worker =
      NamespaceWorker::Create();
  if (!worker.ok()) return worker.status();
  absl::StatusOr<NamespaceListing> listing = ListNamespaces({});
  if (!listing.ok()) return listing.status();
  std::vector<NetlinkSocket> floor_sockets;
  for (const NetnsEntry& entry : listing->namespaces) {
    NetlinkSocket socket;
    status = (*worker)->RunIn(entry.is_own ? "" : entry.path, [&socket] {
      absl::StatusOr<NetlinkSocket> opened =
          NetlinkSocket::Open(NETLINK_SOCK_DIAG);
      if (!opened.ok()) return opened.status();
      socket = *std::move(opened);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    floor_sockets.push_back(std::move(socket));
  }

  // Cold: a fresh Snapshotter (sockets to open, fd tables to read).
  SnapshotterOptions options;
  options.node = "bench";
  const SteadyClock::time_point cold_start = SteadyClock::now();
  absl::StatusOr<std::unique_ptr<Snapshotter>> snapshotter =
      Snapshotter::Create(options);
  if (!snapshotter.ok()) return snapshotter.status();
  absl::StatusOr<v1::NodeSnapshot> cold = (*snapshotter)->Take();
  if (!cold.ok()) return cold.status();
  const double cold_total = Seconds(SteadyClock::now() - cold_start);
  const double cold_attribution =
      absl::ToDoubleSeconds(FromProto(cold->stats().attribution_duration()));
  const double cold_dump =
      absl::ToDoubleSeconds(FromProto(cold->stats().dump_duration()));

  // Interleave floor and warm snapshots so both see the same machine state.
  std::vector<double> floors, dumps, totals, attributions;
  uint64_t messages = 0, sockets = 0;
  for (int round = 0; round < 7; ++round) {
    absl::StatusOr<double> floor = RawDumpFloor(floor_sockets, &messages);
    if (!floor.ok()) return floor.status();
    floors.push_back(*floor);
    absl::StatusOr<v1::NodeSnapshot> warm = (*snapshotter)->Take();
    if (!warm.ok()) return warm.status();
    dumps.push_back(
        absl::ToDoubleSeconds(FromProto(warm->stats().dump_duration())));
    totals.push_back(
        absl::ToDoubleSeconds(FromProto(warm->stats().duration())));
    attributions.push_back(
        absl::ToDoubleSeconds(FromProto(warm->stats().attribution_duration())));
    sockets = warm->stats().sockets();
  }
  // The snapshot also dumps the node's other namespaces (host, Docker's):
  // compare per socket.
  const double floor_per_socket =
      Median(floors) / static_cast<double>(messages);
  const double dump_per_socket = Median(dumps) / static_cast<double>(sockets);
  std::printf(
      "  raw netlink floor      %8.1f ms  %6.3f us/socket (%lu sockets)\n",
      Median(floors) * 1e3, floor_per_socket * 1e6,
      static_cast<unsigned long>(messages));
  std::printf(
      "  snapshot dump (warm)   %8.1f ms  %6.3f us/socket (%lu sockets)  "
      "ratio to floor %.2f (target <= 1.5)\n",
      Median(dumps) * 1e3, dump_per_socket * 1e6,
      static_cast<unsigned long>(sockets), dump_per_socket / floor_per_socket);
  std::printf("  snapshot total (warm)  %8.1f ms  (attribution %.1f ms)\n",
              Median(totals) * 1e3, Median(attributions) * 1e3);
  std::printf(
      "  snapshot total (cold)  %8.1f ms  (dump %.1f ms, attribution %.1f ms)"
      "  %s\n",
      cold_total * 1e3, cold_dump * 1e3, cold_attribution * 1e3,
      sockets >= 100000
          ? absl::StrCat("[target 0.5 s: warm ",
                         Median(totals) < 0.5 ? "ok" : "MISSED", ", cold ",
                         cold_total < 0.5 ? "ok" : "MISSED", "]")
                .c_str()
          : "");
  const ProcessIndexStats& index = (*snapshotter)->attribution_stats();
  std::printf("  attribution caches: %lu fd tables read, %lu fds, %lu hits\n",
              static_cast<unsigned long>(index.fd_tables_scanned),
              static_cast<unsigned long>(index.fds_read),
              static_cast<unsigned long>(index.cache_hits));
  std::fflush(stdout);

  std::vector<double> agent_table, agent_json;
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<double> table =
        TimeCommand({GHOSTPEER_AGENT_BINARY, "--once", "-o", "table"});
    if (!table.ok()) return table.status();
    agent_table.push_back(*table);
    absl::StatusOr<double> json =
        TimeCommand({GHOSTPEER_AGENT_BINARY, "--once", "-o", "json"});
    if (!json.ok()) return json.status();
    agent_json.push_back(*json);
  }
  std::printf("  ghostpeer-agent --once -o table  %8.1f ms\n",
              Median(agent_table) * 1e3);
  std::printf("  ghostpeer-agent --once -o json   %8.1f ms\n",
              Median(agent_json) * 1e3);
  if (!compare_ss) return absl::OkStatus();

  double ss_total = 0, ss_plain_total = 0;
  for (const std::string& name : fleet.names()) {
    absl::StatusOr<double> ss = TimeCommand(
        {"ip", "netns", "exec", name, "ss", "-tinp", "state", "all"});
    if (!ss.ok()) return ss.status();
    ss_total += *ss;
    absl::StatusOr<double> plain = TimeCommand(
        {"ip", "netns", "exec", name, "ss", "-tin", "state", "all"});
    if (!plain.ok()) return plain.status();
    ss_plain_total += *plain;
  }
  std::printf("  ss -tin  (each namespace)        %8.1f ms\n",
              ss_plain_total * 1e3);
  std::printf("  ss -tinp (each namespace)        %8.1f ms\n", ss_total * 1e3);
  std::printf("  agent --once table / ss -tinp    %8.2f (target <= 0.5)\n",
              Median(agent_table) / ss_total);
  std::printf("  agent --once json  / ss -tinp    %8.2f\n",
              Median(agent_json) / ss_total);
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ghostpeer::agent

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;  // run only the cases whose title contains this
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--case" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: agent_bench [--quick] [--case TITLE-SUBSTRING]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "agent_bench: needs root (network namespaces)\n");
    return 2;
  }
  // Raise the soft fd limit to the hard one (past it needs CAP_SYS_RESOURCE).
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::perror("setrlimit(RLIMIT_NOFILE)");
    return 1;
  }
  ghostpeer::agent::connections_per_holder =
      static_cast<int>(std::min<rlim_t>(20000, (limit.rlim_cur - 64) / 2));
  const int scale = quick ? 10 : 1;
  struct Case {
    const char* title;
    int namespaces;
    int connections;
    bool compare_ss;
  };
  const Case cases[] = {
      {"many namespaces", 50, 200 / scale, true},
      {"one big namespace", 1, 10000 / scale, true},
      {"100k-socket node", 1, 50000 / scale, true},
  };
  for (const Case& c : cases) {
    if (std::string(c.title).find(only) == std::string::npos) continue;
    const absl::Status status = ghostpeer::agent::RunCase(
        c.title, c.namespaces, c.connections, c.compare_ss);
    if (!status.ok()) {
      std::fprintf(stderr, "agent_bench: %s: %s\n", c.title,
                   status.ToString().c_str());
      return 1;
    }
  }
  if (std::string("translations").find(only) != std::string::npos) {
    const absl::Status status =
        ghostpeer::agent::RunTranslationCost(10000 / scale, 11);
    if (!status.ok()) {
      std::fprintf(stderr, "agent_bench: translations: %s\n",
                   status.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
