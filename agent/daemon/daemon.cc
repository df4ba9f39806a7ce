#include "agent/daemon/daemon.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/docker/docker_transport.h"
#include "agent/docker/docker_watcher.h"
#include "agent/report/event_journal.h"
#include "agent/report/remediation_dispatcher.h"
#include "agent/sock_destroy.h"
#include "common/credentials.h"
#include "common/endpoint_list.h"
#include "common/http/agent_metrics.h"
#include "common/http/http_server.h"
#include "common/http/metrics.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "common/version.h"

namespace ghostpeer::agent {
namespace {

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return RepairUtf8(name);
}

std::string KernelRelease() {
  struct utsname uts;
  if (uname(&uts) != 0) return "";
  return RepairUtf8(uts.release);
}

// The node's snapshots, stamped with the Docker watcher's state so the
// aggregator can tell "no containers" from "Docker unreachable", and on a
// manager with the swarm's nodes as the managers see them.
class WithDockerStatus final : public SnapshotSource {
 public:
  // `watcher` may be null (Docker disabled); neither is owned.
  WithDockerStatus(SnapshotSource* capture, docker::DockerWatcher* watcher)
      : capture_(capture), watcher_(watcher) {}

  absl::StatusOr<v1::NodeSnapshot> Take() override {
    GHOSTPEER_ASSIGN_OR_RETURN(v1::NodeSnapshot snapshot, capture_->Take());
    // The status may quote what dockerd answered.
    snapshot.set_docker_status(watcher_ ? RepairUtf8(watcher_->Status())
                                        : "disabled");
    // On a manager, the managers' view of every node: how the aggregator
    // learns that a silent node is lost rather than restarting.
    if (watcher_ != nullptr) {
      for (v1::SwarmNode& node : watcher_->SwarmNodes()) {
        *snapshot.add_swarm_nodes() = std::move(node);
      }
      // And each service's ghostpeer.remediation label, which the
      // aggregator's policy honours over its own mode.
      for (auto& [service, label] : watcher_->ServiceRemediation()) {
        (*snapshot.mutable_service_remediation())[service] = std::move(label);
      }
    }
    return snapshot;
  }

 private:
  SnapshotSource* const capture_;
  docker::DockerWatcher* const watcher_;
};

}  // namespace

absl::Status RunDaemon(DaemonOptions options, absl::Notification* stop) {
  if (options.snapshotter.node.empty()) options.snapshotter.node = HostName();
  const std::string node = options.snapshotter.node;
  if (!IsValidUtf8(node)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--node must be UTF-8: ", EscapeForLog(node)));
  }

  // 1. Credentials first: a typo in a path should stop us before anything
  //    starts, with the path in the message.
  GHOSTPEER_ASSIGN_OR_RETURN(options.reporter.credentials,
                             MakeChannelCredentials(options.tls));
  if (!options.tls.ca_file.empty()) {
    options.reporter.tls_server_name = options.tls.server_name;
  }
  if (!options.token_file.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(options.reporter.bearer_token,
                               ReadTokenFile(options.token_file));
  }
  for (const std::string& aggregator : options.reporter.aggregators) {
    if (const std::string clear_text =
            ClearTextTokenWarning(aggregator, !options.token_file.empty(),
                                  !options.tls.ca_file.empty());
        !clear_text.empty()) {
      GP_LOG_WARN("{}", clear_text);
    }
  }

  // 2. The journal: address events survive until acknowledged.
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<EventJournal> journal,
      EventJournal::Open({options.state_dir, options.max_buffered_events}));
  if (journal->pending_count() > 0) {
    GP_LOG_INFO("{} unacknowledged address event(s) from before the restart",
                journal->pending_count());
  }

  // 3. Remediation, before anything that streams. It gets its own namespace
  //    worker: the snapshotter's is busy for a whole snapshot, and an order
  //    should not wait behind one. It looks at the namespaces the snapshots
  //    cover (--netns-only included).
  std::unique_ptr<LinuxRemediationHost> remediation_host;
  if (options.remediation) {
    NamespaceListOptions list_options;
    list_options.proc_root = options.snapshotter.proc_root;
    list_options.netns_dirs = options.snapshotter.netns_dirs;
    list_options.own_netns = options.snapshotter.own_netns;
    GHOSTPEER_ASSIGN_OR_RETURN(
        remediation_host, LinuxRemediationHost::Create(NodeNamespaceLister(
                              list_options, options.snapshotter.netns_only)));
  }
  RemediationExecutorOptions executor_options;
  executor_options.enabled = options.remediation;
  RemediationExecutor executor(executor_options, remediation_host.get());
  RemediationDispatcherOptions dispatcher_options;
  if (executor.enabled()) {
    dispatcher_options.execute = [&executor](const v1::RemediationOrder& o) {
      return executor.Execute(o);
    };
    GP_LOG_INFO(
        "remediation on: orders from the aggregator destroy ghost sockets "
        "after re-checking them here (needs CAP_NET_ADMIN)");
  }
  dispatcher_options.refusal = executor.refusal();
  // Declared before the reporter (below), which uses it until destroyed.
  RemediationDispatcher dispatcher(std::move(dispatcher_options));
  options.reporter.remediation = &dispatcher;

  // 4. Docker, when there is one: names, services, tasks, and attach/detach
  //    events as they happen. Absent or unreachable is fine: we go on with
  //    kernel data and the watcher keeps reconnecting.
  std::unique_ptr<Reporter> reporter;
  std::atomic<Reporter*> reporter_for_events{nullptr};
  std::unique_ptr<docker::DockerWatcher> watcher;
  if (!options.docker_socket.empty()) {
    docker::CurlTransportOptions transport_options;
    transport_options.socket_path = options.docker_socket;
    GHOSTPEER_ASSIGN_OR_RETURN(
        std::unique_ptr<docker::CurlDockerTransport> transport,
        docker::CurlDockerTransport::Create(transport_options));
    docker::DockerWatcherOptions watcher_options;
    watcher_options.node = node;
    watcher_options.proc_root = options.snapshotter.proc_root;
    watcher_options.swarm_poll_interval = options.swarm_poll_interval;
    EventJournal* journal_ptr = journal.get();
    watcher_options.on_events = [journal_ptr, &reporter_for_events](
                                    std::vector<v1::AddressEvent> events) {
      if (absl::Status s = journal_ptr->Append(std::move(events)); !s.ok()) {
        GP_LOG_ERROR("journal append failed: {}", s.ToString());
      }
      if (Reporter* r = reporter_for_events.load()) r->Notify();
    };
    GHOSTPEER_ASSIGN_OR_RETURN(
        watcher, docker::DockerWatcher::Create(std::move(transport),
                                               std::move(watcher_options)));
    watcher->Start();
    if (!watcher->WaitForSync(absl::Seconds(3))) {
      GP_LOG_WARN("docker at {}: {}; going on with kernel data alone",
                  options.docker_socket, watcher->Status());
    }
    options.snapshotter.container_resolver = watcher.get();
  }

  // 5. The snapshotter and the stream.
  GHOSTPEER_ASSIGN_OR_RETURN(std::unique_ptr<Snapshotter> snapshotter,
                             Snapshotter::Create(options.snapshotter));
  WithDockerStatus snapshots(snapshotter.get(), watcher.get());
  options.reporter.node = node;
  options.reporter.agent_version = kVersion;
  options.reporter.kernel = KernelRelease();
  reporter =
      std::make_unique<Reporter>(options.reporter, &snapshots, journal.get());
  reporter_for_events.store(reporter.get());

  // 6. The agent's own /metrics, read from the reporter at scrape time.
  metrics::Registry registry;
  http::AgentMetrics agent_metrics(&registry);
  std::unique_ptr<http::HttpServer> metrics_server;
  if (!options.metrics_listen.empty()) {
    EventJournal* journal_ptr = journal.get();
    Reporter* reporter_ptr = reporter.get();
    RemediationDispatcher* dispatcher_ptr = &dispatcher;
    registry.AddCollector([&agent_metrics, journal_ptr, reporter_ptr,
                           dispatcher_ptr] {
      const ReporterStats stats = reporter_ptr->stats();
      http::AgentMetricsValues values;
      values.last_snapshot_duration = stats.last_snapshot_duration;
      values.sockets = stats.last_socket_count;
      values.namespaces_seen = stats.last_namespaces_seen;
      values.namespaces_failed = stats.last_namespaces_failed;
      values.translations_ok = stats.last_translations_ok;
      values.translations = stats.last_translations;
      values.translation_namespaces_failed =
          stats.last_translation_namespaces_failed;
      values.ipvs_blackhole_namespaces = stats.last_ipvs_blackhole_namespaces;
      values.buffered_events = journal_ptr->pending_count();
      values.connected = stats.connected;
      values.last_ack = stats.last_ack;
      values.reconnects_total = stats.reconnects;
      values.streams_opened_total = stats.streams_opened;
      values.snapshots_sent_total = stats.snapshots_sent;
      values.full_snapshots_sent_total = stats.full_snapshots_sent;
      values.snapshot_errors_total = stats.snapshot_errors;
      values.events_sent_total = stats.events_sent;
      values.aggregator = stats.endpoint;
      values.aggregator_failovers_total = stats.failovers;
      const RemediationCounts counts = dispatcher_ptr->counts();
      values.remediations_total = {{"destroyed", counts.destroyed},
                                   {"already_gone", counts.already_gone},
                                   {"refused", counts.refused},
                                   {"failed", counts.failed},
                                   {"would_destroy", counts.would_destroy}};
      agent_metrics.Update(values, absl::Now());
    });
    http::HttpServerOptions http_options;
    http_options.listen = options.metrics_listen;
    http_options.routes = http::StandardRoutes(&registry, nullptr);
    GHOSTPEER_ASSIGN_OR_RETURN(metrics_server,
                               http::HttpServer::Start(http_options));
    GP_LOG_INFO("metrics on http://{}/metrics", options.metrics_listen);
  }

  GP_LOG_INFO("ghostpeer-agent {} on node {}: every {} to {}", kVersion, node,
              absl::FormatDuration(options.reporter.interval),
              JoinEndpoints(options.reporter.aggregators));
  std::atomic<bool> run_returned{false};
  std::thread stopper([&] {
    // Run() returns early only for bad options: then nobody notifies `stop`.
    while (!stop->WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
      if (run_returned.load()) return;
    }
    reporter->Stop();
  });
  absl::Status status = reporter->Run();
  run_returned.store(true);
  stopper.join();
  reporter_for_events.store(nullptr);
  if (metrics_server) metrics_server->Stop();
  if (watcher) watcher->Stop();
  return status;
}

}  // namespace ghostpeer::agent
