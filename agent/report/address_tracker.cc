#include "agent/report/address_tracker.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace ghostpeer::agent {
namespace {

// Owners are the same when these match; names and labels may fill in later
// (Docker answers after the kernel) without making a new owner.
std::string HoldingKey(const v1::AddressOwner& owner) {
  return absl::StrCat(owner.address(), "|", owner.kind(), "|",
                      owner.container_id(), "|", owner.netns_inode(), "|",
                      owner.network());
}

}  // namespace

v1::AddressOwner OwnerOf(const std::string& node, const v1::NamespaceInfo& ns,
                         const v1::InterfaceAddress& address) {
  v1::AddressOwner owner;
  if (!ns.container_id().empty()) {
    owner.set_kind(v1::OWNER_KIND_CONTAINER);
  } else if (ns.is_host()) {
    owner.set_kind(v1::OWNER_KIND_HOST);
  } else {
    owner.set_kind(v1::OWNER_KIND_NETNS);
  }
  owner.set_container_id(ns.container_id());
  owner.set_container_name(ns.container_name());
  owner.set_service(ns.service());
  owner.set_task(ns.task());
  owner.set_task_slot(ns.task_slot());
  owner.set_image(ns.image());
  owner.set_node(node);
  owner.set_netns(ns.netns_name().empty() ? absl::StrCat("inode:", ns.inode())
                                          : ns.netns_name());
  owner.set_netns_inode(ns.inode());
  owner.set_address(address.address());
  owner.set_network(address.interface());
  // Docker's word when it has one (the snapshotter stamps container
  // addresses with their network's scope); an address Docker does not
  // explain — the host's, an `ip netns` namespace's, a container's before
  // Docker answered — is node-local. Read as cluster-wide, a private range
  // that another node reuses would let that node's holder speak for ours:
  // a false finding, or a missed one. Read as node-local, the worst is that
  // clients on other nodes are not judged against it.
  owner.set_scope(address.scope() != v1::ADDRESS_SCOPE_UNSPECIFIED
                      ? address.scope()
                      : v1::ADDRESS_SCOPE_NODE);
  return owner;
}

std::vector<v1::AddressEvent> AddressTracker::Observe(
    const v1::NodeSnapshot& snapshot) {
  const auto time = snapshot.taken_at();
  absl::flat_hash_map<std::string, v1::AddressOwner> now;
  // Namespaces whose addresses could not be read whole: what they held
  // before is kept (an address missing from a failed read did not leave).
  absl::flat_hash_set<uint64_t> unread_namespaces;
  for (const v1::NamespaceInfo& ns : snapshot.namespaces()) {
    if (ns.status() == v1::NAMESPACE_STATUS_FAILED) {
      unread_namespaces.insert(ns.inode());
      continue;
    }
    if (ns.addresses_incomplete()) unread_namespaces.insert(ns.inode());
    for (const v1::InterfaceAddress& address : ns.addresses()) {
      v1::AddressOwner owner = OwnerOf(snapshot.node(), ns, address);
      std::string key = HoldingKey(owner);
      now.emplace(std::move(key), std::move(owner));
    }
  }
  for (const auto& [key, owner] : held_) {
    if (unread_namespaces.contains(owner.netns_inode())) {
      now.emplace(key, owner);
    }
  }

  std::vector<v1::AddressEvent> events;
  for (const auto& [key, owner] : held_) {
    if (now.contains(key)) continue;
    v1::AddressEvent& event = events.emplace_back();
    event.set_type(v1::DETACH);
    event.set_source(v1::OBSERVATION);
    *event.mutable_time() = time;
    *event.mutable_owner() = owner;
  }
  for (const auto& [key, owner] : now) {
    // Held before with the same scope: nothing new. A changed scope (Docker
    // answered since) is said again; the history merges it.
    if (auto before = held_.find(key);
        before != held_.end() && before->second.scope() == owner.scope()) {
      continue;
    }
    v1::AddressEvent& event = events.emplace_back();
    event.set_type(v1::ATTACH);
    event.set_source(v1::OBSERVATION);
    *event.mutable_time() = time;
    *event.mutable_owner() = owner;
  }
  // Deterministic order: detaches first (an address moving between owners
  // is freed before it is taken), then by address.
  std::stable_sort(events.begin(), events.end(),
                   [](const v1::AddressEvent& a, const v1::AddressEvent& b) {
                     if (a.type() != b.type()) return a.type() == v1::DETACH;
                     return a.owner().address() < b.owner().address();
                   });
  held_ = std::move(now);
  return events;
}

v1::AddressEvent AddressTracker::Inventory(absl::Time time) const {
  v1::AddressEvent event;
  event.set_type(v1::INVENTORY);
  event.set_source(v1::OBSERVATION);
  *event.mutable_time() = ToProto(time);
  std::vector<const v1::AddressOwner*> owners;
  owners.reserve(held_.size());
  for (const auto& [key, owner] : held_) owners.push_back(&owner);
  std::sort(owners.begin(), owners.end(),
            [](const v1::AddressOwner* a, const v1::AddressOwner* b) {
              return a->address() < b->address();
            });
  for (const v1::AddressOwner* owner : owners) {
    *event.add_inventory() = *owner;
  }
  return event;
}

}  // namespace ghostpeer::agent
