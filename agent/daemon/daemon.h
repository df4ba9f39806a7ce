// The agent as a daemon: snapshots, Docker, journal and the ingest stream
// wired together. agent/main.cc parses flags into DaemonOptions and calls
// RunDaemon; tests can run it in-process.
#ifndef GHOSTPEER_AGENT_DAEMON_DAEMON_H_
#define GHOSTPEER_AGENT_DAEMON_DAEMON_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/report/reporter.h"
#include "agent/snapshotter.h"
#include "common/credentials.h"

namespace ghostpeer::agent {

struct DaemonOptions {
  SnapshotterOptions snapshotter;  // its container_resolver is set here
  ReporterOptions reporter;        // node/version/kernel/credentials set here
  // Unacknowledged address events are kept here across restarts; empty:
  // in memory only.
  std::string state_dir;
  size_t max_buffered_events = 100000;
  // dockerd's API socket; empty disables Docker (kernel data only).
  std::string docker_socket = "/var/run/docker.sock";
  absl::Duration swarm_poll_interval = absl::Seconds(5);
  ClientTlsOptions tls;
  std::string token_file;
  // host:port for the agent's own /metrics and /healthz; empty: none.
  std::string metrics_listen;
  // Act on the aggregator's remediation orders (SOCK_DESTROY after the
  // re-checks of agent/sock_destroy.h). Off: every order is refused and
  // Hello says why.
  bool remediation = false;
};

// Runs until `stop` is notified. Returns OK then; an error when the daemon
// cannot start (bad options, unreadable credentials, state directory or
// /proc). Docker being absent or the aggregator unreachable are not errors:
// the agent keeps working and says so in its logs and node status.
absl::Status RunDaemon(DaemonOptions options, absl::Notification* stop);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_DAEMON_DAEMON_H_
