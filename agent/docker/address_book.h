// Who holds which address, as Docker tells it, and the ATTACH/DETACH events
// that keep the aggregator's history in step. Pure: structs from
// docker_api.h in, v1::AddressEvent out; no I/O, no clock, not thread-safe
// (DockerWatcher serialises access).
//
// Both books are diff engines: each call states what Docker says *now* and
// the book answers with what changed since it last heard. Applying the same
// state twice yields nothing, which is what makes replayed /events and a
// re-list after a lost connection safe.
#ifndef GHOSTPEER_AGENT_DOCKER_ADDRESS_BOOK_H_
#define GHOSTPEER_AGENT_DOCKER_ADDRESS_BOOK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "agent/container_info.h"
#include "agent/docker/docker_api.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent::docker {

// The identity swarm labels give a container (service, task, slot, node id),
// with the name and image; pid 0.
ContainerInfo IdentityOf(const std::string& id, const std::string& name,
                         const std::string& image, const Labels& labels);

// The addresses a container holds according to inspect: none unless it is
// running; per network IPAddress (IPAMConfig.IPv4Address if that is empty)
// and GlobalIPv6Address (else IPAMConfig.IPv6Address).
struct HeldAddress {
  std::string network;  // network name
  std::string network_id;
  std::string address;
};

// The scope of an address on `network` (model.proto AddressScope): one
// holder in the cluster on swarm- and global-scoped networks (overlay,
// ingress); one per node on local ones (bridge, docker_gwbridge, user
// bridges, macvlan and ipvlan without swarm scope, host). An unknown network
// (null) is node-local: read as cluster-wide, a private range that another
// node reuses would let that node's containers speak for ours (a false
// finding, or a missed one); read as node-local, the worst is that clients
// on other nodes go unjudged.
v1::AddressScope ScopeOfNetwork(const Network* network);
std::vector<HeldAddress> AddressesOf(const ContainerDetails& details);

// Containers of this node, from /containers and /events (source
// DOCKER_EVENT, kind OWNER_KIND_CONTAINER), each address scoped by its
// network (SetNetworks).
class ContainerAddressBook {
 public:
  // `node` is copied into every owner's `node`.
  explicit ContainerAddressBook(std::string node) : node_(std::move(node)) {}

  // What an event at `time` led inspect to say about a container: addresses
  // it holds now and did not before are ATTACHed at `time`, those it held
  // and no longer does are DETACHed at `time`. `netns_inode` (0 if unknown)
  // goes into the owner of new attachments.
  std::vector<v1::AddressEvent> ApplyEvent(const ContainerDetails& details,
                                           uint64_t netns_inode,
                                           absl::Time time);

  // The same, for a container found by listing rather than by an event:
  // attachments are dated from State.StartedAt and detachments from
  // State.FinishedAt, either falling back to `now` when Docker has no time.
  std::vector<v1::AddressEvent> ApplyListed(const ContainerDetails& details,
                                            uint64_t netns_inode,
                                            absl::Time now);

  // A listed container that was not inspected (it is not running and held
  // nothing): remembered for Lookup(); any addresses it held are DETACHed
  // at `now`.
  std::vector<v1::AddressEvent> ApplySummary(const ContainerSummary& summary,
                                             absl::Time now);

  // The container no longer exists (destroy, or inspect said 404): what it
  // held is DETACHed at `time` and it is forgotten.
  std::vector<v1::AddressEvent> Remove(const std::string& id, absl::Time time);

  // After a full listing: every known container not in `present` is
  // Remove()d at `now`.
  std::vector<v1::AddressEvent> RetainOnly(
      const absl::flat_hash_set<std::string>& present, absl::Time now);

  // The node's networks (GET /networks), which give each address its scope
  // (ScopeOfNetwork). Addresses held now whose scope this changes are
  // ATTACHed again at `now` with the new scope (the history merges them
  // into the open interval).
  std::vector<v1::AddressEvent> SetNetworks(
      const std::vector<Network>& networks, absl::Time now);

  // Whether every network `details` is attached to is known by id: if not,
  // list the networks before applying it.
  bool KnowsNetworksOf(const ContainerDetails& details) const;

  // Whether the book believes `id` holds any address.
  bool HoldsAddresses(const std::string& id) const;

  std::optional<ContainerInfo> Lookup(const std::string& id) const;

  // Every address held now, as owners with `since` set.
  std::vector<v1::AddressOwner> Held() const;

  size_t container_count() const { return containers_.size(); }

 private:
  struct Known {
    ContainerInfo info;
    // network|address -> the owner as attached (kept for its DETACH, since
    // inspect no longer shows the address once the container is dead).
    absl::flat_hash_map<std::string, v1::AddressOwner> held;
    // network|address -> the network's id, for re-scoping (SetNetworks).
    absl::flat_hash_map<std::string, std::string> network_ids;
  };

  std::vector<v1::AddressEvent> Apply(const ContainerDetails& details,
                                      uint64_t netns_inode,
                                      absl::Time attach_time,
                                      absl::Time detach_time);

  const Network* FindNetwork(const std::string& id,
                             const std::string& name) const;

  const std::string node_;
  absl::flat_hash_map<std::string, Known> containers_;
  // By id; names are a fallback for endpoints without one.
  absl::flat_hash_map<std::string, Network> networks_;
  absl::flat_hash_map<std::string, std::string> network_ids_by_name_;
};

// One poll of a swarm manager: the cluster's tasks, services, networks and
// nodes.
struct SwarmView {
  std::vector<Task> tasks;
  std::vector<Service> services;
  std::vector<Network> networks;
  std::vector<Node> nodes;
};

// A node of GET /nodes as ghostpeer reports it (NodeSnapshot.swarm_nodes),
// read at `observed_at`. Every string is repaired to valid UTF-8 (a
// hostname is anyone's who may join a node); states, roles and
// availabilities this build does not know map to UNSPECIFIED.
v1::SwarmNode ToSwarmNode(const Node& node, absl::Time observed_at);

// Task and VIP addresses across the cluster, from a manager's /tasks and
// /services (source SWARM_TASKS; kinds OWNER_KIND_SWARM_TASK and
// OWNER_KIND_SWARM_VIP).
class SwarmAddressBook {
 public:
  // Diffs `view` against the previous one:
  //  - a running task's addresses are ATTACHed at its Status.Timestamp;
  //  - a task in a terminal state (complete, shutdown, failed, rejected,
  //    orphaned, remove) that had a container is DETACHed at its
  //    Status.Timestamp, preceded by an ATTACH at its CreatedAt when this
  //    book never saw it running (a task that ended before the agent came);
  //  - a held task that left the list (history pruned, service removed) is
  //    DETACHed at `now`;
  //  - a task on a node the managers mark down holds nothing, whatever its
  //    observed state: swarm keeps "running" as the last word of a node it
  //    lost (its desired state turns to shutdown when it reschedules). A
  //    held one is DETACHed (close_reason NODE_LOST) when the node was
  //    marked down (its UpdatedAt; never before the holding began nor after
  //    `now`), and ATTACHed again should the node come back with it
  //    running;
  //  - a service VIP is ATTACHed when first seen (at the service's creation
  //    if known) and DETACHed at `now` when its service or VIP goes.
  // Owners name the node by hostname when /nodes knows it, else by id.
  std::vector<v1::AddressEvent> Apply(const SwarmView& view, absl::Time now);

  // The VIPs of every service in the last view.
  std::vector<v1::AddressOwner> Vips() const;

  // Task addresses held according to the last view.
  std::vector<v1::AddressOwner> HeldTaskAddresses() const;

  // An INVENTORY (source SWARM_TASKS) at `now` of every task address and
  // VIP the last view holds, sorted by address. Apply() reports changes
  // only, and this book lives in memory: a task that ended while the agent
  // was away (the stack removed and deployed again) would stay open in the
  // aggregator's history for good. The aggregator closes what this
  // reporter's cluster-wide intervals hold and the inventory does not list.
  v1::AddressEvent Inventory(absl::Time now) const;

 private:
  // task id|network id|address (or "vip|service|network|address") -> owner.
  absl::flat_hash_map<std::string, v1::AddressOwner> held_;
  absl::flat_hash_map<std::string, v1::AddressOwner> vips_;
  // Keys of ended tasks already reported, so a task that stays in the
  // retained history is reported once; pruned with the history.
  absl::flat_hash_set<std::string> ended_;
};

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_AGENT_DOCKER_ADDRESS_BOOK_H_
