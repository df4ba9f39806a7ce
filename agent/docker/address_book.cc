#include "agent/docker/address_book.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "common/utf8.h"

namespace ghostpeer::agent::docker {
namespace {

std::string LabelOr(const Labels& labels, absl::string_view key) {
  auto it = labels.find(std::string(key));
  return it == labels.end() ? "" : it->second;
}

v1::AddressEvent MakeEvent(v1::AddressEventType type,
                           v1::AddressEventSource source,
                           const v1::AddressOwner& owner, absl::Time time) {
  v1::AddressEvent event;
  event.set_type(type);
  event.set_source(source);
  *event.mutable_time() = ToProto(time);
  *event.mutable_owner() = owner;
  if (type == v1::DETACH)
    *event.mutable_owner()->mutable_until() = ToProto(time);
  return event;
}

// A DETACH that says why the address left.
v1::AddressEvent MakeDetach(v1::AddressEventSource source,
                            const v1::AddressOwner& owner, absl::Time time,
                            v1::CloseReason reason) {
  v1::AddressEvent event = MakeEvent(v1::DETACH, source, owner, time);
  event.mutable_owner()->set_close_reason(reason);
  return event;
}

v1::SwarmNodeState NodeStateOf(const std::string& state) {
  if (state == "ready") return v1::SWARM_NODE_STATE_READY;
  if (state == "down") return v1::SWARM_NODE_STATE_DOWN;
  if (state == "unknown") return v1::SWARM_NODE_STATE_UNKNOWN;
  if (state == "disconnected") return v1::SWARM_NODE_STATE_DISCONNECTED;
  return v1::SWARM_NODE_STATE_UNSPECIFIED;
}

v1::SwarmNodeRole NodeRoleOf(const std::string& role) {
  if (role == "worker") return v1::SWARM_NODE_ROLE_WORKER;
  if (role == "manager") return v1::SWARM_NODE_ROLE_MANAGER;
  return v1::SWARM_NODE_ROLE_UNSPECIFIED;
}

v1::SwarmNodeAvailability NodeAvailabilityOf(const std::string& value) {
  if (value == "active") return v1::SWARM_NODE_AVAILABILITY_ACTIVE;
  if (value == "pause") return v1::SWARM_NODE_AVAILABILITY_PAUSE;
  if (value == "drain") return v1::SWARM_NODE_AVAILABILITY_DRAIN;
  return v1::SWARM_NODE_AVAILABILITY_UNSPECIFIED;
}

bool IsTerminal(const std::string& state) {
  return state == "complete" || state == "shutdown" || state == "failed" ||
         state == "rejected" || state == "orphaned" || state == "remove";
}

absl::Time Or(absl::Time time, absl::Time fallback) {
  return time == absl::InfinitePast() ? fallback : time;
}

// Events of one diff are sorted by time (then DETACH before ATTACH, so an
// address handed over at one instant reads as left-then-taken), whatever
// order the hash maps yielded them in.
void SortByTime(std::vector<v1::AddressEvent>& events) {
  std::stable_sort(events.begin(), events.end(),
                   [](const v1::AddressEvent& a, const v1::AddressEvent& b) {
                     const absl::Time ta = FromProto(a.time());
                     const absl::Time tb = FromProto(b.time());
                     if (ta != tb) return ta < tb;
                     return a.type() == v1::DETACH && b.type() != v1::DETACH;
                   });
}

}  // namespace

ContainerInfo IdentityOf(const std::string& id, const std::string& name,
                         const std::string& image, const Labels& labels) {
  ContainerInfo info;
  info.id = id;
  info.name = name;
  info.image = image;
  info.service = LabelOr(labels, kLabelServiceName);
  info.task = LabelOr(labels, kLabelTaskName);
  info.node_id = LabelOr(labels, kLabelNodeId);
  info.task_slot = TaskSlotFromName(info.task, info.service);
  return info;
}

std::vector<HeldAddress> AddressesOf(const ContainerDetails& details) {
  std::vector<HeldAddress> held;
  if (!details.running) return held;
  for (const NetworkEndpoint& n : details.networks) {
    const std::string& v4 =
        n.ip_address.empty() ? n.ipam_ipv4_address : n.ip_address;
    const std::string& v6 = n.global_ipv6_address.empty()
                                ? n.ipam_ipv6_address
                                : n.global_ipv6_address;
    if (!v4.empty()) held.push_back({n.network_name, n.network_id, v4});
    if (!v6.empty()) held.push_back({n.network_name, n.network_id, v6});
  }
  return held;
}

v1::AddressScope ScopeOfNetwork(const Network* network) {
  if (network == nullptr) return v1::ADDRESS_SCOPE_NODE;
  // "swarm": overlay networks swarm manages; "global": networks of a
  // cluster-wide driver (overlay with an external key-value store). Only
  // "local" networks repeat their ranges per node.
  if (network->scope == "swarm" || network->scope == "global") {
    return v1::ADDRESS_SCOPE_CLUSTER;
  }
  if (network->scope.empty() && network->driver == "overlay") {
    return v1::ADDRESS_SCOPE_CLUSTER;
  }
  return v1::ADDRESS_SCOPE_NODE;
}

const Network* ContainerAddressBook::FindNetwork(
    const std::string& id, const std::string& name) const {
  auto it = networks_.find(id);
  if (it == networks_.end() && id.empty()) {
    auto by_name = network_ids_by_name_.find(name);
    if (by_name != network_ids_by_name_.end()) {
      it = networks_.find(by_name->second);
    }
  }
  return it == networks_.end() ? nullptr : &it->second;
}

std::vector<v1::AddressEvent> ContainerAddressBook::SetNetworks(
    const std::vector<Network>& networks, absl::Time now) {
  networks_.clear();
  network_ids_by_name_.clear();
  for (const Network& network : networks) {
    networks_[network.id] = network;
    network_ids_by_name_[network.name] = network.id;
  }
  std::vector<v1::AddressEvent> events;
  for (auto& [id, known] : containers_) {
    for (auto& [key, owner] : known.held) {
      // key is network|address; the owner keeps the network's name.
      const v1::AddressScope scope =
          ScopeOfNetwork(FindNetwork(known.network_ids[key], owner.network()));
      if (scope == owner.scope()) continue;
      owner.set_scope(scope);
      events.push_back(MakeEvent(v1::ATTACH, v1::DOCKER_EVENT, owner, now));
    }
  }
  SortByTime(events);
  return events;
}

bool ContainerAddressBook::KnowsNetworksOf(
    const ContainerDetails& details) const {
  for (const NetworkEndpoint& endpoint : details.networks) {
    if (FindNetwork(endpoint.network_id, endpoint.network_name) == nullptr) {
      return false;
    }
  }
  return true;
}

std::vector<v1::AddressEvent> ContainerAddressBook::ApplyEvent(
    const ContainerDetails& details, uint64_t netns_inode, absl::Time time) {
  return Apply(details, netns_inode, time, time);
}

std::vector<v1::AddressEvent> ContainerAddressBook::ApplyListed(
    const ContainerDetails& details, uint64_t netns_inode, absl::Time now) {
  return Apply(details, netns_inode, Or(details.started_at, now),
               Or(details.finished_at, now));
}

std::vector<v1::AddressEvent> ContainerAddressBook::Apply(
    const ContainerDetails& details, uint64_t netns_inode,
    absl::Time attach_time, absl::Time detach_time) {
  Known& known = containers_[details.id];
  known.info =
      IdentityOf(details.id, details.name, details.image, details.labels);
  known.info.pid = details.running ? details.pid : 0;

  absl::flat_hash_map<std::string, HeldAddress> now;
  for (HeldAddress& a : AddressesOf(details)) {
    std::string key = absl::StrCat(a.network, "|", a.address);
    now.emplace(std::move(key), std::move(a));
  }

  std::vector<v1::AddressEvent> events;
  for (auto it = known.held.begin(); it != known.held.end();) {
    if (now.contains(it->first)) {
      ++it;
      continue;
    }
    // Inspect lists no address of a container that is not running: it
    // stopped or died. A running one lost this address alone.
    events.push_back(MakeDetach(v1::DOCKER_EVENT, it->second, detach_time,
                                details.running
                                    ? v1::CLOSE_REASON_DETACHED
                                    : v1::CLOSE_REASON_CONTAINER_DIED));
    known.network_ids.erase(it->first);
    known.held.erase(it++);
  }
  for (const auto& [key, address] : now) {
    if (known.held.contains(key)) continue;
    v1::AddressOwner owner;
    owner.set_kind(v1::OWNER_KIND_CONTAINER);
    owner.set_container_id(details.id);
    owner.set_container_name(known.info.name);
    owner.set_service(known.info.service);
    owner.set_task(known.info.task);
    owner.set_task_slot(known.info.task_slot);
    owner.set_image(known.info.image);
    owner.set_node(node_);
    owner.set_network(address.network);
    owner.set_address(address.address);
    owner.set_scope(
        ScopeOfNetwork(FindNetwork(address.network_id, address.network)));
    if (netns_inode != 0) {
      owner.set_netns_inode(netns_inode);
      owner.set_netns(absl::StrCat("inode:", netns_inode));
    }
    *owner.mutable_since() = ToProto(attach_time);
    events.push_back(
        MakeEvent(v1::ATTACH, v1::DOCKER_EVENT, owner, attach_time));
    known.network_ids[key] = address.network_id;
    known.held.emplace(key, std::move(owner));
  }
  SortByTime(events);
  return events;
}

std::vector<v1::AddressEvent> ContainerAddressBook::ApplySummary(
    const ContainerSummary& summary, absl::Time now) {
  ContainerDetails details;
  details.id = summary.id;
  details.name = summary.name;
  details.image = summary.image;
  details.labels = summary.labels;
  details.running = false;
  return Apply(details, 0, now, now);
}

std::vector<v1::AddressEvent> ContainerAddressBook::Remove(
    const std::string& id, absl::Time time) {
  std::vector<v1::AddressEvent> events;
  auto it = containers_.find(id);
  if (it == containers_.end()) return events;
  for (const auto& [key, owner] : it->second.held) {
    events.push_back(MakeDetach(v1::DOCKER_EVENT, owner, time,
                                v1::CLOSE_REASON_CONTAINER_DIED));
  }
  containers_.erase(it);
  SortByTime(events);
  return events;
}

std::vector<v1::AddressEvent> ContainerAddressBook::RetainOnly(
    const absl::flat_hash_set<std::string>& present, absl::Time now) {
  std::vector<std::string> gone;
  for (const auto& [id, known] : containers_) {
    if (!present.contains(id)) gone.push_back(id);
  }
  std::vector<v1::AddressEvent> events;
  for (const std::string& id : gone) {
    std::vector<v1::AddressEvent> removed = Remove(id, now);
    events.insert(events.end(), std::make_move_iterator(removed.begin()),
                  std::make_move_iterator(removed.end()));
  }
  SortByTime(events);
  return events;
}

bool ContainerAddressBook::HoldsAddresses(const std::string& id) const {
  auto it = containers_.find(id);
  return it != containers_.end() && !it->second.held.empty();
}

std::optional<ContainerInfo> ContainerAddressBook::Lookup(
    const std::string& id) const {
  auto it = containers_.find(id);
  if (it == containers_.end()) return std::nullopt;
  ContainerInfo info = it->second.info;
  for (const auto& [key, owner] : it->second.held) {
    info.address_scopes[owner.address()] = owner.scope();
  }
  return info;
}

std::vector<v1::AddressOwner> ContainerAddressBook::Held() const {
  std::vector<v1::AddressOwner> held;
  for (const auto& [id, known] : containers_) {
    for (const auto& [key, owner] : known.held) held.push_back(owner);
  }
  return held;
}

v1::SwarmNode ToSwarmNode(const Node& node, absl::Time observed_at) {
  v1::SwarmNode out;
  out.set_id(RepairUtf8(node.id));
  out.set_hostname(RepairUtf8(node.hostname));
  out.set_state(NodeStateOf(node.state));
  out.set_availability(NodeAvailabilityOf(node.availability));
  out.set_role(NodeRoleOf(node.role));
  out.set_address(RepairUtf8(node.address));
  out.set_message(RepairUtf8(node.message));
  if (node.updated_at != absl::InfinitePast()) {
    *out.mutable_state_since() = ToProto(node.updated_at);
  }
  *out.mutable_observed_at() = ToProto(observed_at);
  return out;
}

std::vector<v1::AddressEvent> SwarmAddressBook::Apply(const SwarmView& view,
                                                      absl::Time now) {
  absl::flat_hash_map<std::string, std::string> hostnames;
  // Nodes the managers lost, and since when (never in the future).
  absl::flat_hash_map<std::string, absl::Time> down_since;
  for (const Node& node : view.nodes) {
    if (!node.hostname.empty()) hostnames[node.id] = node.hostname;
    if (node.state == "down") {
      down_since[node.id] = std::min(Or(node.updated_at, now), now);
    }
  }
  absl::flat_hash_map<std::string, std::string> network_names;
  for (const Network& network : view.networks) {
    network_names[network.id] = network.name;
  }
  absl::flat_hash_map<std::string, const Service*> services;
  for (const Service& service : view.services) services[service.id] = &service;

  std::vector<v1::AddressEvent> events;

  // 1. Tasks: each (task, network, address) either holds its address now
  //    (running), held it and ended, or has not started. Owners are built
  //    only for what changed: a steady poll of a big cluster builds none.
  absl::flat_hash_set<std::string> running;
  absl::flat_hash_set<std::string> listed;
  for (const Task& task : view.tasks) {
    const auto down = down_since.find(task.node_id);
    const bool node_down = down != down_since.end();
    const bool is_running = task.state == "running" && !node_down;
    const bool ended = IsTerminal(task.state) && !task.container_id.empty();
    auto make_owner = [&](const TaskAttachment& attachment,
                          const std::string& address) {
      auto service_it = services.find(task.service_id);
      const std::string service_name =
          service_it == services.end() ? "" : service_it->second->name;
      // Docker names a task's container "service.slot.taskid" (global
      // services: "service.nodeid.taskid"), and so does the task label the
      // container carries: use the same string so both sources agree.
      const std::string task_name =
          service_name.empty()
              ? task.id
              : absl::StrCat(
                    service_name, ".",
                    task.slot > 0 ? absl::StrCat(task.slot) : task.node_id, ".",
                    task.id);
      auto host_it = hostnames.find(task.node_id);
      v1::AddressOwner owner;
      owner.set_kind(v1::OWNER_KIND_SWARM_TASK);
      owner.set_container_id(task.container_id);
      owner.set_container_name(task_name);
      owner.set_service(service_name);
      owner.set_task(task_name);
      if (task.slot > 0) owner.set_task_slot(absl::StrCat(task.slot));
      owner.set_node(host_it == hostnames.end() ? task.node_id
                                                : host_it->second);
      owner.set_network(attachment.network_name.empty()
                            ? network_names[attachment.network_id]
                            : attachment.network_name);
      owner.set_address(address);
      // The tasks API lists swarm networks only.
      owner.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
      return owner;
    };
    for (const TaskAttachment& attachment : task.attachments) {
      for (const std::string& address : attachment.addresses) {
        std::string key =
            absl::StrCat(task.id, "|", attachment.network_id, "|", address);
        listed.insert(key);
        if (is_running) {
          if (running.insert(key).second && !held_.contains(key)) {
            // A running task entered that state at its Status.Timestamp.
            const absl::Time since = Or(task.status_time, now);
            v1::AddressOwner owner = make_owner(attachment, address);
            *owner.mutable_since() = ToProto(since);
            events.push_back(
                MakeEvent(v1::ATTACH, v1::SWARM_TASKS, owner, since));
            held_.emplace(std::move(key), std::move(owner));
          }
          continue;
        }
        // 2. Running on a node the managers lost: it held the address until
        //    they marked the node down.
        if (node_down && !IsTerminal(task.state)) {
          auto held_it = held_.find(key);
          if (held_it == held_.end()) continue;
          const absl::Time until =
              std::max(down->second, FromProto(held_it->second.since()));
          events.push_back(MakeDetach(v1::SWARM_TASKS, held_it->second,
                                      std::min(until, now),
                                      v1::CLOSE_REASON_NODE_LOST));
          held_.erase(held_it);
          continue;
        }
        // 3. Ended: report once, as an interval if it was never seen held.
        if (!ended || ended_.contains(key)) continue;
        ended_.insert(key);
        const absl::Time until = Or(task.status_time, now);
        auto held_it = held_.find(key);
        if (held_it != held_.end()) {
          events.push_back(
              MakeEvent(v1::DETACH, v1::SWARM_TASKS, held_it->second, until));
          held_.erase(held_it);
        } else {
          v1::AddressOwner owner = make_owner(attachment, address);
          const absl::Time since = std::min(Or(task.created_at, until), until);
          *owner.mutable_since() = ToProto(since);
          events.push_back(
              MakeEvent(v1::ATTACH, v1::SWARM_TASKS, owner, since));
          events.push_back(
              MakeEvent(v1::DETACH, v1::SWARM_TASKS, owner, until));
        }
      }
    }
  }
  // 4. Held tasks that are neither running nor listed any more left unseen
  //    (a task can also go from running to a state we do not count, such
  //    as being removed with its service): they end now.
  for (auto it = held_.begin(); it != held_.end();) {
    if (running.contains(it->first)) {
      ++it;
      continue;
    }
    events.push_back(MakeEvent(v1::DETACH, v1::SWARM_TASKS, it->second, now));
    held_.erase(it++);
  }
  // Forget ended tasks swarm no longer retains: they cannot come back.
  for (auto it = ended_.begin(); it != ended_.end();) {
    if (listed.contains(*it)) {
      ++it;
    } else {
      ended_.erase(it++);
    }
  }

  // 5. VIPs: addresses of the services themselves, never of a container.
  absl::flat_hash_map<std::string, v1::AddressOwner> vips;
  for (const Service& service : view.services) {
    for (const VirtualIp& vip : service.virtual_ips) {
      v1::AddressOwner owner;
      owner.set_kind(v1::OWNER_KIND_SWARM_VIP);
      owner.set_service(service.name);
      owner.set_network(network_names[vip.network_id]);
      owner.set_address(vip.address);
      owner.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
      vips.emplace(absl::StrCat("vip|", service.id, "|", vip.network_id, "|",
                                vip.address),
                   std::move(owner));
    }
  }
  for (auto it = vips_.begin(); it != vips_.end();) {
    if (vips.contains(it->first)) {
      ++it;
      continue;
    }
    events.push_back(MakeEvent(v1::DETACH, v1::SWARM_TASKS, it->second, now));
    vips_.erase(it++);
  }
  for (auto& [key, owner] : vips) {
    if (vips_.contains(key)) continue;
    const std::string service_id = key.substr(4, key.find('|', 4) - 4);
    const absl::Time since =
        services.contains(service_id)
            ? std::min(Or(services[service_id]->created_at, now), now)
            : now;
    *owner.mutable_since() = ToProto(since);
    events.push_back(MakeEvent(v1::ATTACH, v1::SWARM_TASKS, owner, since));
    vips_.emplace(key, owner);
  }
  SortByTime(events);
  return events;
}

std::vector<v1::AddressOwner> SwarmAddressBook::Vips() const {
  std::vector<v1::AddressOwner> vips;
  for (const auto& [key, owner] : vips_) vips.push_back(owner);
  return vips;
}

v1::AddressEvent SwarmAddressBook::Inventory(absl::Time now) const {
  std::vector<const v1::AddressOwner*> owners;
  owners.reserve(held_.size() + vips_.size());
  for (const auto& [key, owner] : held_) owners.push_back(&owner);
  for (const auto& [key, owner] : vips_) owners.push_back(&owner);
  std::sort(owners.begin(), owners.end(),
            [](const v1::AddressOwner* a, const v1::AddressOwner* b) {
              return std::tie(a->address(), a->task(), a->service()) <
                     std::tie(b->address(), b->task(), b->service());
            });
  v1::AddressEvent event;
  event.set_type(v1::INVENTORY);
  event.set_source(v1::SWARM_TASKS);
  *event.mutable_time() = ToProto(now);
  for (const v1::AddressOwner* owner : owners) *event.add_inventory() = *owner;
  return event;
}

std::vector<v1::AddressOwner> SwarmAddressBook::HeldTaskAddresses() const {
  std::vector<v1::AddressOwner> held;
  for (const auto& [key, owner] : held_) held.push_back(owner);
  return held;
}

}  // namespace ghostpeer::agent::docker
