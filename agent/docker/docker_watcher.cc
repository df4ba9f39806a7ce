#include "agent/docker/docker_watcher.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ghostpeer::agent::docker {
namespace {

// Doubling from initial to max, without jitter: the watcher talks to its
// own node's dockerd, so there is no fleet to spread out.
BackoffPolicy ReconnectPolicy(const DockerWatcherOptions& options) {
  return BackoffPolicy{options.reconnect_initial_backoff,
                       options.reconnect_max_backoff, /*multiplier=*/2,
                       Jitter::kNone};
}

}  // namespace

absl::StatusOr<std::unique_ptr<DockerWatcher>> DockerWatcher::Create(
    std::unique_ptr<DockerTransport> transport, DockerWatcherOptions options) {
  if (transport == nullptr) {
    return absl::InvalidArgumentError("docker watcher: no transport");
  }
  if (!options.on_events) {
    return absl::InvalidArgumentError("docker watcher: on_events is required");
  }
  GHOSTPEER_RETURN_IF_ERROR(ValidateBackoffPolicy(ReconnectPolicy(options),
                                                  "docker watcher reconnect"));
  if (options.swarm_poll_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "docker watcher: negative swarm poll interval");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  return std::unique_ptr<DockerWatcher>(
      new DockerWatcher(std::move(transport), std::move(options)));
}

DockerWatcher::DockerWatcher(std::unique_ptr<DockerTransport> transport,
                             DockerWatcherOptions options)
    : transport_(std::move(transport)),
      client_(transport_.get()),
      options_(std::move(options)),
      containers_(options_.node) {}

DockerWatcher::~DockerWatcher() { Stop(); }

void DockerWatcher::Start() {
  if (started_) return;
  started_ = true;
  events_thread_ = std::thread([this] { RunEvents(); });
  if (options_.swarm_poll_interval > absl::ZeroDuration()) {
    swarm_thread_ = std::thread([this] { RunSwarm(); });
  }
}

void DockerWatcher::Stop() {
  if (stopping_.exchange(true)) return;
  stop_.Notify();
  if (events_thread_.joinable()) events_thread_.join();
  if (swarm_thread_.joinable()) swarm_thread_.join();
}

bool DockerWatcher::WaitForSync(absl::Duration timeout) {
  return synced_.WaitForNotificationWithTimeout(timeout);
}

std::string DockerWatcher::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::optional<ContainerInfo> DockerWatcher::Lookup(
    const std::string& container_id) {
  absl::MutexLock lock(&mu_);
  return containers_.Lookup(container_id);
}

std::vector<v1::AddressOwner> DockerWatcher::ServiceVips() const {
  absl::MutexLock lock(&mu_);
  return swarm_.Vips();
}

std::vector<v1::AddressOwner> DockerWatcher::HeldAddresses() const {
  absl::MutexLock lock(&mu_);
  return containers_.Held();
}

bool DockerWatcher::IsSwarmManager() const {
  absl::MutexLock lock(&mu_);
  return swarm_manager_;
}

bool DockerWatcher::SwarmViewFreshLocked(absl::Time now) const {
  return swarm_manager_ &&
         now - swarm_nodes_at_ <= 3 * options_.swarm_poll_interval;
}

std::vector<v1::SwarmNode> DockerWatcher::SwarmNodes() const {
  const absl::Time now = options_.clock->Now();
  absl::MutexLock lock(&mu_);
  if (!SwarmViewFreshLocked(now)) return {};
  return swarm_nodes_;
}

std::map<std::string, std::string> DockerWatcher::ServiceRemediation() const {
  const absl::Time now = options_.clock->Now();
  absl::MutexLock lock(&mu_);
  if (!SwarmViewFreshLocked(now)) return {};
  return service_remediation_;
}

DockerWatcherStats DockerWatcher::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void DockerWatcher::SetStatus(std::string status) {
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
}

bool DockerWatcher::SleepUnlessStopped(absl::Duration duration) {
  return !stop_.WaitForNotificationWithTimeout(duration);
}

void DockerWatcher::Emit(std::vector<v1::AddressEvent> events) {
  if (events.empty()) return;
  absl::MutexLock lock(&emit_mu_);
  options_.on_events(std::move(events));
}

uint64_t DockerWatcher::NetnsInode(int pid) const {
  if (pid <= 0) return 0;
  struct stat st;
  const std::string path =
      absl::StrCat(options_.proc_root, "/", pid, "/ns/net");
  // A container that died since inspect, or a /proc we may not read: the
  // owner simply goes without its namespace inode.
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

void DockerWatcher::RunEvents() {
  Backoff backoff(ReconnectPolicy(options_));
  bool was_connected = false;
  while (!stopping_) {
    // 1. Sync: what exists now, diffed against what the book knew. Taken
    //    before the stream opens; the stream replays from `since` so that
    //    nothing between the list and the subscription is lost (replays are
    //    harmless: the book is a diff).
    const absl::Time since = options_.clock->Now();
    absl::Status status = Sync();
    if (status.ok()) {
      SetStatus("connected");
      if (!synced_.HasBeenNotified()) synced_.Notify();
      if (was_connected) {
        GP_LOG_INFO("docker: reconnected and re-synced");
      }
      was_connected = true;
      backoff.Reset();

      // 2. Follow the stream until it breaks, a stop, or a failed inspect
      //    asks for a re-sync.
      bool resync = false;
      status = client_.StreamEvents(
          since,
          [this, &resync](const absl::StatusOr<Event>& event) {
            if (!HandleEvent(event)) {
              resync = true;
            } else if (event.ok()) {
              absl::MutexLock lock(&mu_);
              ++stats_.events_received;
            }
          },
          [this, &resync] { return stopping_.load() || resync; });
      if (stopping_) break;
      if (resync) {
        status = absl::UnavailableError(
            "docker stopped answering inspect; re-syncing");
      }
      absl::MutexLock lock(&mu_);
      ++stats_.connection_losses;
    }
    // 3. Lost or never had it: say so (once per kind of failure, not at
    //    every retry of a long outage), wait, try again.
    std::string reason = absl::StrCat("unavailable: ", status.message());
    if (reason != Status()) {
      GP_LOG_WARN("docker: {}; retrying with backoff up to {}",
                  status.ToString(),
                  absl::FormatDuration(options_.reconnect_max_backoff));
    }
    SetStatus(std::move(reason));
    if (!SleepUnlessStopped(backoff.Next())) break;
  }
}

absl::Status DockerWatcher::Sync() {
  absl::StatusOr<std::vector<ContainerSummary>> list = client_.ListContainers();
  if (!list.ok()) return list.status();
  const absl::Time now = options_.clock->Now();

  std::vector<v1::AddressEvent> events;
  auto append = [&events](std::vector<v1::AddressEvent> more) {
    events.insert(events.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
  };
  // Networks first: they scope every address the containers hold.
  if (absl::Status networks = RefreshNetworks(now, &events);
      absl::IsUnavailable(networks)) {
    return networks;
  }
  absl::flat_hash_set<std::string> present;
  for (const ContainerSummary& summary : *list) {
    bool held;
    {
      absl::MutexLock lock(&mu_);
      held = containers_.HoldsAddresses(summary.id);
    }
    present.insert(summary.id);
    // Inspect what runs (for its pid and start time) and what held
    // addresses before (for its finish time); the list says enough about
    // the rest.
    if (summary.state != "running" && !held) {
      absl::MutexLock lock(&mu_);
      append(containers_.ApplySummary(summary, now));
      continue;
    }
    absl::StatusOr<ContainerDetails> details =
        client_.InspectContainer(summary.id);
    if (absl::IsNotFound(details.status())) {
      present.erase(summary.id);  // removed since the list: RetainOnly ends it
      continue;
    }
    if (absl::IsUnavailable(details.status())) return details.status();
    if (!details.ok()) {
      // Keep what the book knew: a container we cannot read is no evidence
      // that it left its addresses.
      GP_LOG_WARN("docker: {}", details.status().ToString());
      absl::MutexLock lock(&mu_);
      ++stats_.inspect_failures;
      continue;
    }
    const uint64_t inode = NetnsInode(details->pid);
    absl::MutexLock lock(&mu_);
    append(containers_.ApplyListed(*details, inode, now));
  }
  {
    absl::MutexLock lock(&mu_);
    append(containers_.RetainOnly(present, now));
    ++stats_.syncs;
  }
  Emit(std::move(events));
  return absl::OkStatus();
}

bool DockerWatcher::HandleEvent(const absl::StatusOr<Event>& event) {
  if (!event.ok()) {
    GP_LOG_WARN("docker: skipping event: {}", event.status().ToString());
    absl::MutexLock lock(&mu_);
    ++stats_.bad_events;
    return true;
  }
  if (event->container_id.empty()) return true;
  const absl::Time time =
      event->time == absl::InfinitePast() ? options_.clock->Now() : event->time;
  if (event->type == "container" && event->action == "destroy") {
    std::vector<v1::AddressEvent> events;
    {
      absl::MutexLock lock(&mu_);
      events = containers_.Remove(event->container_id, time);
    }
    Emit(std::move(events));
    return true;
  }
  // Events carry no addresses: ask inspect what the container holds now.
  absl::StatusOr<ContainerDetails> details =
      client_.InspectContainer(event->container_id);
  std::vector<v1::AddressEvent> events;
  if (absl::IsNotFound(details.status())) {
    absl::MutexLock lock(&mu_);
    events = containers_.Remove(event->container_id, time);
  } else if (absl::IsUnavailable(details.status())) {
    return false;
  } else if (!details.ok()) {
    GP_LOG_WARN("docker: {} after {} {}", details.status().ToString(),
                event->type, event->action);
    absl::MutexLock lock(&mu_);
    ++stats_.inspect_failures;
    return true;
  } else {
    bool networks_known;
    {
      absl::MutexLock lock(&mu_);
      networks_known = containers_.KnowsNetworksOf(*details);
    }
    // A network created since the last list: learn its scope first.
    if (!networks_known &&
        absl::IsUnavailable(RefreshNetworks(options_.clock->Now(), &events))) {
      return false;
    }
    const uint64_t inode = NetnsInode(details->pid);
    absl::MutexLock lock(&mu_);
    std::vector<v1::AddressEvent> applied =
        containers_.ApplyEvent(*details, inode, time);
    events.insert(events.end(), std::make_move_iterator(applied.begin()),
                  std::make_move_iterator(applied.end()));
  }
  Emit(std::move(events));
  return true;
}

absl::Status DockerWatcher::RefreshNetworks(
    absl::Time now, std::vector<v1::AddressEvent>* events) {
  absl::StatusOr<std::vector<Network>> networks = client_.ListNetworks();
  if (!networks.ok()) {
    // Without the list, addresses read as node-local (ScopeOfNetwork):
    // fewer clients judged, none judged wrongly. Logged once per failure.
    absl::MutexLock lock(&mu_);
    ++stats_.network_list_failures;
    if (!network_list_failing_) {
      GP_LOG_WARN("docker: {}; addresses read as node-local until it answers",
                  networks.status().ToString());
    }
    network_list_failing_ = true;
    return networks.status();
  }
  absl::MutexLock lock(&mu_);
  network_list_failing_ = false;
  std::vector<v1::AddressEvent> rescoped =
      containers_.SetNetworks(*networks, now);
  events->insert(events->end(), std::make_move_iterator(rescoped.begin()),
                 std::make_move_iterator(rescoped.end()));
  return absl::OkStatus();
}

void DockerWatcher::RunSwarm() {
  bool reported_failure = false;
  do {
    absl::Status status = PollSwarm();
    absl::MutexLock lock(&mu_);
    ++stats_.swarm_polls;
    if (!status.ok()) {
      ++stats_.swarm_poll_failures;
      // dockerd away is the events thread's news; log a poll failure once
      // until a poll succeeds again.
      if (!reported_failure) {
        GP_LOG_WARN("docker: swarm poll: {}", status.ToString());
      }
      reported_failure = true;
    } else {
      reported_failure = false;
    }
  } while (SleepUnlessStopped(options_.swarm_poll_interval));
}

absl::Status DockerWatcher::PollSwarm() {
  absl::StatusOr<Info> info = client_.GetInfo();
  if (!info.ok()) return info.status();
  const bool manager = info->swarm_state == "active" && info->swarm_manager;
  {
    absl::MutexLock lock(&mu_);
    swarm_manager_ = manager;
    if (!manager) {
      swarm_nodes_.clear();
      service_remediation_.clear();
    }
  }
  // Workers cannot see the cluster; what they knew as managers stays (it
  // is not evidence of anything ending), and another manager reports on.
  if (!manager) return absl::OkStatus();

  SwarmView view;
  absl::StatusOr<std::vector<Task>> tasks = client_.ListTasks();
  absl::StatusOr<std::vector<Service>> services = client_.ListServices();
  absl::StatusOr<std::vector<Network>> networks = client_.ListNetworks();
  absl::StatusOr<std::vector<Node>> nodes = client_.ListNodes();
  for (const absl::Status& s :
       {tasks.status(), services.status(), networks.status(), nodes.status()}) {
    // Demoted between /info and here: not an error, nothing to diff.
    if (absl::IsFailedPrecondition(s)) return absl::OkStatus();
    if (!s.ok()) return s;
  }
  view.tasks = *std::move(tasks);
  view.services = *std::move(services);
  view.networks = *std::move(networks);
  view.nodes = *std::move(nodes);
  const absl::Time now = options_.clock->Now();
  std::vector<v1::SwarmNode> swarm_nodes;
  swarm_nodes.reserve(view.nodes.size());
  for (const Node& node : view.nodes) {
    swarm_nodes.push_back(ToSwarmNode(node, now));
  }
  std::map<std::string, std::string> service_remediation;
  for (const Service& service : view.services) {
    if (service.remediation_label.empty()) continue;
    // Swarm service names are at most 63 characters; anything else here
    // is not a name an aggregator could match a socket's service to.
    if (service.name.empty() || service.name.size() > kMaxServiceNameLength ||
        !std::all_of(service.name.begin(), service.name.end(),
                     [](char c) { return c > 0x20 && c < 0x7f; })) {
      continue;
    }
    if (service_remediation.size() >= kMaxLabelledServices) break;
    service_remediation[service.name] = service.remediation_label;
  }
  std::vector<v1::AddressEvent> events;
  {
    absl::MutexLock lock(&mu_);
    events = swarm_.Apply(view, now);
    // Once per agent life, after the first complete view: tasks that ended
    // while no agent watched left no trace to diff against.
    if (!swarm_inventory_sent_) {
      events.push_back(swarm_.Inventory(now));
      swarm_inventory_sent_ = true;
    }
    swarm_nodes_ = std::move(swarm_nodes);
    service_remediation_ = std::move(service_remediation);
    swarm_nodes_at_ = now;
  }
  Emit(std::move(events));
  return absl::OkStatus();
}

}  // namespace ghostpeer::agent::docker
