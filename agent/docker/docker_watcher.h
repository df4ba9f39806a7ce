// DockerWatcher follows one node's dockerd and turns what it says into
// address ownership changes: containers attaching to and detaching from
// network addresses (from /containers and the /events stream), and, on a
// swarm manager, the addresses of every task and service VIP in the cluster
// (from /tasks and /services). It also answers container identity lookups
// for the socket capture code from the same cache.
//
// Lifecycle: construct, Start() once, Stop() (or destroy) once. Two threads
// run in between:
//   events thread: list + inspect (sync), then follow /events; on a lost
//     connection, reconnect with capped exponential backoff, re-list and diff
//     against what it knew, so no attachment or detachment is missed while
//     dockerd was away (dated from the containers' StartedAt/FinishedAt).
//   swarm thread: every `swarm_poll_interval`, if the node is a manager,
//     poll /tasks, /services, /networks and /nodes and diff.
// The agent keeps working when dockerd is absent: Status() says so.
#ifndef GHOSTPEER_AGENT_DOCKER_DOCKER_WATCHER_H_
#define GHOSTPEER_AGENT_DOCKER_DOCKER_WATCHER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/container_info.h"
#include "agent/docker/address_book.h"
#include "agent/docker/docker_client.h"
#include "agent/docker/docker_transport.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent::docker {

// Bounds on NodeSnapshot.service_remediation: swarm service names are at
// most 63 characters, and no swarm runs this many services with the label.
inline constexpr size_t kMaxServiceNameLength = 255;
inline constexpr size_t kMaxLabelledServices = 10000;

struct DockerWatcherOptions {
  // The node name written into the owners of this node's containers.
  std::string node;
  // Where host pids live (/host/proc when the agent runs in a container
  // with the host's /proc mounted there): netns inodes come from
  // <proc_root>/<pid>/ns/net.
  std::string proc_root = "/proc";
  // How often a manager polls the swarm; zero disables the swarm source.
  absl::Duration swarm_poll_interval = absl::Seconds(5);
  // Reconnect backoff after dockerd is lost: doubles from initial to max.
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(200);
  absl::Duration reconnect_max_backoff = absl::Seconds(10);
  // Receives every batch of address changes, in order per source, from the
  // watcher's threads, one call at a time. Events have no seq (the reporter
  // assigns them). It may call Lookup(), Status() and the other accessors;
  // it must not call Stop(). Required.
  std::function<void(std::vector<v1::AddressEvent>)> on_events;
  // Dates re-list detachments that Docker gives no time for. Not owned.
  const Clock* clock = Clock::Real();
};

struct DockerWatcherStats {
  uint64_t syncs = 0;  // successful (re-)lists
  uint64_t connection_losses = 0;
  uint64_t events_received = 0;  // parsed and fully handled
  uint64_t bad_events = 0;       // lines that did not parse
  uint64_t inspect_failures = 0;
  uint64_t swarm_polls = 0;
  uint64_t swarm_poll_failures = 0;
  uint64_t network_list_failures = 0;  // GET /networks, for address scopes
};

class DockerWatcher final : public ContainerResolver {
 public:
  // The watcher owns `transport`. InvalidArgument without on_events, with a
  // null transport or a non-positive backoff.
  static absl::StatusOr<std::unique_ptr<DockerWatcher>> Create(
      std::unique_ptr<DockerTransport> transport, DockerWatcherOptions options);

  // Stops.
  ~DockerWatcher() override;

  DockerWatcher(const DockerWatcher&) = delete;
  DockerWatcher& operator=(const DockerWatcher&) = delete;

  // Starts the threads and returns at once; the first sync happens on the
  // events thread. Call at most once.
  void Start();

  // Ends both threads and waits for them: returns within the transport's
  // stop poll (100 ms for curl) plus, at worst, one in-flight request's
  // timeout. Idempotent; after it returns no callback runs.
  void Stop();

  // Blocks until the first successful sync after Start() or `timeout`;
  // true if synced. For callers that want the initial state before going on.
  bool WaitForSync(absl::Duration timeout);

  // "starting", "connected", or "unavailable: <reason>": for
  // NodeSnapshot.docker_status. Thread-safe.
  std::string Status() const;

  // ContainerResolver: what the cache knows of `container_id` (name,
  // service, task, slot, node id, image, pid while running). Thread-safe,
  // never blocks on Docker.
  std::optional<ContainerInfo> Lookup(const std::string& container_id) override;

  // The service VIPs of the cluster as of the last swarm poll (empty on
  // non-managers): addresses that belong to services, never ghosts.
  std::vector<v1::AddressOwner> ServiceVips() const;

  // Addresses this node's containers hold now.
  std::vector<v1::AddressOwner> HeldAddresses() const;

  // Whether the last /info said this node is a swarm manager.
  bool IsSwarmManager() const;

  // Every node of the swarm as the managers saw it at the last successful
  // poll (ToSwarmNode, stamped with that poll's time): for
  // NodeSnapshot.swarm_nodes. Empty on a worker, and once no poll has
  // succeeded for three poll intervals: a stale view would speak for the
  // managers after they stopped answering.
  std::vector<v1::SwarmNode> SwarmNodes() const;

  // Each service's ghostpeer.remediation label (Service::remediation_label,
  // already bounded) by service name, as of the last successful poll, for
  // NodeSnapshot.service_remediation; services without one are absent.
  // Empty on a worker and once the view is stale, as SwarmNodes(): the
  // aggregator then falls back to its own mode rather than obeying labels
  // that may have changed. At most kMaxLabelledServices entries.
  std::map<std::string, std::string> ServiceRemediation() const;

  DockerWatcherStats Stats() const;

 private:
  DockerWatcher(std::unique_ptr<DockerTransport> transport,
                DockerWatcherOptions options);

  // Whether this node is a manager whose last successful swarm poll is at
  // most three poll intervals old: what the managers' view may be reported.
  bool SwarmViewFreshLocked(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void RunEvents();
  void RunSwarm();

  // Lists and inspects every container and diffs against the book.
  absl::Status Sync();
  // Handles one line of the stream. Returns false when the stream should be
  // dropped and the state re-synced (dockerd stopped answering inspects).
  bool HandleEvent(const absl::StatusOr<Event>& event);
  absl::Status PollSwarm();
  // Lists the node's networks into the book (address scopes), appending
  // the re-scoping events to `*events`. The list's error, if any.
  absl::Status RefreshNetworks(absl::Time now,
                               std::vector<v1::AddressEvent>* events);

  uint64_t NetnsInode(int pid) const;
  void Emit(std::vector<v1::AddressEvent> events);
  void SetStatus(std::string status);
  // Sleeps up to `duration`; false if Stop() was called meanwhile.
  bool SleepUnlessStopped(absl::Duration duration);

  const std::unique_ptr<DockerTransport> transport_;
  DockerClient client_;
  const DockerWatcherOptions options_;

  std::atomic<bool> stopping_{false};
  absl::Notification stop_;
  absl::Notification synced_;
  std::thread events_thread_;
  std::thread swarm_thread_;
  bool started_ = false;  // touched only by Start()/Stop()'s caller

  // Serialises on_events calls so batches never interleave.
  absl::Mutex emit_mu_;

  mutable absl::Mutex mu_;
  std::string status_ ABSL_GUARDED_BY(mu_) = "starting";
  ContainerAddressBook containers_ ABSL_GUARDED_BY(mu_);
  SwarmAddressBook swarm_ ABSL_GUARDED_BY(mu_);
  // Whether the first complete swarm view went out as an INVENTORY.
  bool swarm_inventory_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool swarm_manager_ ABSL_GUARDED_BY(mu_) = false;
  bool network_list_failing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::SwarmNode> swarm_nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> service_remediation_ ABSL_GUARDED_BY(mu_);
  absl::Time swarm_nodes_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  DockerWatcherStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_AGENT_DOCKER_DOCKER_WATCHER_H_
