// ghostpeer-agent: flags -> Options -> Run. Everything else lives in the
// ghostpeer_agent library.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/daemon/daemon.h"
#include "agent/inet_address.h"
#include "agent/run_once.h"
#include "agent/tcp_state.h"
#include "common/endpoint_list.h"
#include "common/flag_checks.h"
#include "common/logging.h"
#include "common/version.h"

namespace {

using ghostpeer::kExitFailure;
using ghostpeer::kExitOk;
using ghostpeer::kExitUsage;

struct Flags {
  bool once = false;
  std::string output = "table";
  std::string proc_root = "/proc";
  std::string node;
  std::vector<std::string> netns_dirs = {"/var/run/netns",
                                         "/var/run/docker/netns"};
  std::string sort = "send-queue";
  std::vector<std::string> states;
  std::string capture = "netlink";
  std::string translations = "on";
  bool no_processes = false;
  int scan_threads = 0;
  std::string log_level = "";  // --once: warn; daemon: info
  bool log_json = false;
  // Daemon mode.
  std::string aggregator = "127.0.0.1:7070";
  std::string interval = "5s";
  int full_every = 12;
  std::string state_dir;
  std::string docker_socket = "/var/run/docker.sock";
  std::string swarm_poll_interval = "5s";
  std::vector<std::string> netns_only;
  std::vector<std::string> cluster_cidrs;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  std::string token_file;
  std::string metrics_listen;
  bool remediation = false;
};

// "5s", "500ms", "1m": an absl duration; CLI11 validator.
std::string CheckDuration(const std::string& value) {
  absl::Duration parsed;
  if (absl::ParseDuration(value, &parsed) && parsed > absl::ZeroDuration()) {
    return "";
  }
  return absl::StrCat("'", value,
                      "' is not a positive duration (5s, 500ms, 1m)");
}

void DefineFlags(CLI::App& app, Flags& flags) {
  app.add_flag("--once", flags.once,
               "Take one snapshot of every network namespace of this node, "
               "print it and exit");
  app.add_option("-o,--output", flags.output,
                 "Output of --once: 'table' (ss-like, for people) or 'json' "
                 "(proto3 JSON, proto field names)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--proc-root", flags.proc_root,
                 "The host's /proc (e.g. /host/proc when the agent runs in a "
                 "container with the host's /proc mounted there)")
      ->check(ghostpeer::CheckNotEmpty)
      ->capture_default_str();
  app.add_option("--node", flags.node,
                 "Node name put in every record (default: the host name)")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--netns-dir", flags.netns_dirs,
                 "Directory of bind-mounted namespace files to include; "
                 "repeatable, replaces the defaults")
      ->check(ghostpeer::CheckNotEmpty)
      ->capture_default_str();
  app.add_option("--sort", flags.sort,
                 "Table/JSON socket order: send-queue (descending, default), "
                 "recv-queue, backoff, state, local, remote, pid, none")
      ->check(CLI::IsMember({"send-queue", "recv-queue", "backoff", "state",
                             "local", "remote", "pid", "none"}))
      ->capture_default_str();
  app.add_option("--state", flags.states,
                 "Show only sockets in this state (close-wait, established, "
                 "syn-sent, fin-wait-1, listen, ...); repeatable")
      ->check([](const std::string& value) -> std::string {
        if (ghostpeer::agent::ParseTcpStateName(value).has_value()) return "";
        return absl::StrCat("unknown TCP state '", value, "'");
      });
  app.add_option("--capture", flags.capture,
                 "'netlink' (sock_diag, /proc where refused) or 'proc' "
                 "(/proc/<pid>/net/tcp only: no tcp_info)")
      ->check(CLI::IsMember({"netlink", "proc"}))
      ->capture_default_str();
  app.add_option("--translations", flags.translations,
                 "'on': read every namespace's conntrack (DNAT) and IPVS "
                 "tables and show, for a socket to a VIP, the backend it "
                 "really reaches; 'off': skip them (the node then reports "
                 "that it cannot see through VIPs)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_flag("--no-processes", flags.no_processes,
               "Skip socket -> process -> container attribution");
  app.add_option("--scan-threads", flags.scan_threads,
                 "Threads reading processes' fd tables at once when many "
                 "sockets are new (0: one per core, at most 4)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--netns-only", flags.netns_only,
                 "Capture only namespaces whose `ip netns` name matches one of "
                 "these globs (comma-separated or repeated); the host's and "
                 "unnamed namespaces are then left out")
      ->delimiter(',');
  app.add_option("--cluster-cidr", flags.cluster_cidrs,
                 "Addresses in these ranges that Docker does not explain are "
                 "cluster-wide (routed networks every node reaches: the "
                 "hosts' LAN, a non-Docker overlay); other unexplained "
                 "addresses are node-local (comma-separated or repeated)")
      ->delimiter(',')
      ->check([](const std::string& value) -> std::string {
        absl::StatusOr<ghostpeer::agent::InetPrefix> prefix =
            ghostpeer::agent::ParseInetPrefix(value);
        return prefix.ok() ? "" : std::string(prefix.status().message());
      });
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error or off (logs go to stderr; "
                 "default: warn with --once, info otherwise)")
      ->check(
          CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  // Without --once the agent runs as a daemon and streams to the aggregator.
  app.add_option(
         "--aggregator", flags.aggregator,
         "Aggregator address HOST:PORT to stream snapshots and address events "
         "to, or several, comma-separated (at most 16), in order of "
         "preference: e.g. agg-1:7070,agg-2:7070. The agent keeps to the one "
         "that works; when its stream breaks, it cannot connect, or no "
         "acknowledgement comes in time, it fails over to the next at once and "
         "resends every address event not yet acknowledged, and backs off "
         "only once all failed in a row. A DNS name with several addresses "
         "works as one endpoint: gRPC tries its addresses in order. "
         "--tls-server-name and --token-file apply to every endpoint")
      ->check(ghostpeer::CheckEndpointList)
      ->capture_default_str();
  app.add_option("--interval", flags.interval,
                 "Time between snapshots (at least 1s)")
      ->check([](const std::string& value) -> std::string {
        std::string bad = CheckDuration(value);
        if (!bad.empty()) return bad;
        absl::Duration parsed;
        (void)absl::ParseDuration(value, &parsed);
        return parsed < absl::Seconds(1) ? "--interval must be at least 1s"
                                         : "";
      })
      ->capture_default_str();
  app.add_option("--full-every", flags.full_every,
                 "Send a full socket snapshot at least every N snapshots "
                 "(deltas against the last acknowledged full one in between)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--state-dir", flags.state_dir,
                 "Directory where address events wait, across restarts, until "
                 "the aggregator acknowledges them (default: memory only)")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--docker-socket", flags.docker_socket,
                 "dockerd's API socket for container names, swarm services, "
                 "tasks and attach/detach events; empty (\"\") disables Docker")
      ->capture_default_str();
  app.add_option("--swarm-poll-interval", flags.swarm_poll_interval,
                 "On a swarm manager, how often to poll tasks and services")
      ->check(CheckDuration)
      ->capture_default_str();
  app.add_option("--tls-ca", flags.tls_ca,
                 "CA certificate (PEM) to verify the aggregator with; enables "
                 "TLS")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-cert", flags.tls_cert,
                 "Client certificate (PEM) for mutual TLS")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-key", flags.tls_key, "Client private key (PEM)")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-server-name", flags.tls_server_name,
                 "Name to expect in the aggregator's certificate")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--token-file", flags.token_file,
                 "File holding a bearer token sent to the aggregator")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "HOST:PORT for the agent's own Prometheus /metrics and "
                 "/healthz (e.g. 0.0.0.0:9471); empty (the default): none")
      ->check(ghostpeer::CheckListenAddressOrOff);
  app.add_flag(
         "--remediation", flags.remediation,
         "Act on the aggregator's remediation orders: re-check here that the "
         "named socket still exists (same inode, cookie, 4-tuple) and that no "
         "namespace of this node holds its peer, then destroy it with "
         "SOCK_DESTROY so the client's next write fails (ECONNABORTED) and its "
         "reconnect logic runs, instead of retrying into the void for ~15 min. "
         "Needs CAP_NET_ADMIN (deploy/stack.remediation.yml adds it, and sets "
         "GHOSTPEER_AGENT_REMEDIATION=true, which turns this on too). Off by "
         "default: every order is refused and the agent's hello says so")
      // An environment variable as well, so that the stack overlay can turn
      // it on without restating the command (which the TLS overlay also
      // replaces: compose replaces lists, it does not merge them).
      ->envname("GHOSTPEER_AGENT_REMEDIATION");
  app.add_flag("--log-json", flags.log_json, "Log JSON lines");
}

ghostpeer::agent::SnapshotterOptions ToSnapshotterOptions(const Flags& flags) {
  ghostpeer::agent::SnapshotterOptions options;
  options.node = flags.node;
  options.proc_root = flags.proc_root;
  options.netns_dirs = flags.netns_dirs;
  options.capture = flags.capture == "proc"
                        ? ghostpeer::agent::CaptureMode::kProcNetTcp
                        : ghostpeer::agent::CaptureMode::kNetlink;
  options.attribute_processes = !flags.no_processes;
  options.translations = flags.translations == "on";
  options.scan_threads = flags.scan_threads;
  options.netns_only = flags.netns_only;
  for (const std::string& cidr : flags.cluster_cidrs) {
    // Validated by the flag's check.
    if (auto prefix = ghostpeer::agent::ParseInetPrefix(cidr); prefix.ok()) {
      options.cluster_prefixes.push_back(*prefix);
    }
  }
  return options;
}

absl::Duration Duration(const std::string& text) {
  absl::Duration parsed;
  (void)absl::ParseDuration(text, &parsed);  // validated by the flag's check
  return parsed;
}

ghostpeer::agent::DaemonOptions ToDaemonOptions(const Flags& flags) {
  ghostpeer::agent::DaemonOptions options;
  options.snapshotter = ToSnapshotterOptions(flags);
  // Validated by the flag's check (the default is one good endpoint).
  if (auto aggregators = ghostpeer::ParseEndpointList(flags.aggregator);
      aggregators.ok()) {
    options.reporter.aggregators = std::move(*aggregators);
  }
  options.reporter.interval = Duration(flags.interval);
  options.reporter.full_every = flags.full_every;
  options.state_dir = flags.state_dir;
  options.docker_socket = flags.docker_socket;
  options.swarm_poll_interval = Duration(flags.swarm_poll_interval);
  options.tls = {flags.tls_ca, flags.tls_cert, flags.tls_key,
                 flags.tls_server_name};
  options.token_file = flags.token_file;
  options.metrics_listen = flags.metrics_listen;
  options.remediation = flags.remediation;
  return options;
}

// Runs the daemon until SIGINT or SIGTERM.
int RunDaemonUntilSignal(const Flags& flags) {
  // Block the signals before any thread starts, so all inherit the mask and
  // only the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::Notification stop;
  // Set when RunDaemon returned by itself, before the waiter is woken with
  // a signal of our own: that one is not an operator's request to stop.
  std::atomic<bool> daemon_returned{false};
  std::thread waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (!daemon_returned.load()) {
      GP_LOG_INFO("signal {} received; stopping", signal_number);
    }
    stop.Notify();
  });
  const absl::Status status =
      ghostpeer::agent::RunDaemon(ToDaemonOptions(flags), &stop);
  daemon_returned.store(true);
  if (!stop.HasBeenNotified()) {
    // RunDaemon failed at start: wake the waiter so it can be joined.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  if (!status.ok()) {
    // RunDaemon only fails before it runs (daemon.h): the configuration.
    std::cerr << "ghostpeer-agent: " << status.message() << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

ghostpeer::agent::OnceOptions ToOnceOptions(const Flags& flags) {
  ghostpeer::agent::OnceOptions options;
  options.snapshotter = ToSnapshotterOptions(flags);
  options.format = flags.output == "json"
                       ? ghostpeer::agent::OutputFormat::kJson
                       : ghostpeer::agent::OutputFormat::kTable;
  options.output.sort = *ghostpeer::agent::ParseSortKey(flags.sort);
  for (const std::string& state : flags.states) {
    options.output.states.push_back(
        *ghostpeer::agent::ParseTcpStateName(state));
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{absl::StrCat(
      "ghostpeer-agent ", ghostpeer::kVersion,
      ": snapshots every TCP socket in every network namespace of this node "
      "(with process, container and interface addresses) to find clients "
      "writing to peers that vanished.")};
  app.footer(absl::StrCat(ghostpeer::kDaemonExitStatusHelp,
                          " With --once: 0 printed, 1 the snapshot failed."));
  Flags flags;
  DefineFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ghostpeer-agent: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }
  ghostpeer::LoggingOptions logging;
  logging.level = flags.log_level.empty() ? (flags.once ? "warn" : "info")
                                          : flags.log_level;
  logging.json = flags.log_json;
  logging.program = "ghostpeer-agent";
  if (absl::Status status = ghostpeer::InitLogging(logging); !status.ok()) {
    std::cerr << "ghostpeer-agent: " << status.message() << "\n";
    return kExitUsage;
  }

  if (!flags.once) return RunDaemonUntilSignal(flags);

  const absl::Status status =
      ghostpeer::agent::RunOnce(ToOnceOptions(flags), std::cout);
  if (!status.ok()) {
    std::cerr << "ghostpeer-agent: " << status.ToString() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}
