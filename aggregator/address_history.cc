#include "aggregator/address_history.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "aggregator/owner.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

bool IntervalOrder(const OwnershipInterval& a, const OwnershipInterval& b) {
  if (a.since != b.since) return a.since < b.since;
  return a.id < b.id;
}

// Sources whose inventories speak for the same set of holdings.
bool IsClusterSource(v1::AddressEventSource source) {
  return source == v1::SWARM_TASKS;
}

// Docker and the tasks API report a departure as it happens; an
// observation only notices an address missing from one reading.
EndEvidence DetachEvidence(v1::AddressEventSource source) {
  return source == v1::DOCKER_EVENT || source == v1::SWARM_TASKS
             ? EndEvidence::kDeparture
             : EndEvidence::kAbsence;
}

// Copies the non-empty descriptive fields of `from` into `into`. Returns
// whether anything changed.
bool MergeDescription(const v1::AddressOwner& from, v1::AddressOwner* into) {
  bool changed = false;
  auto merge = [&changed](const std::string& value, std::string* field) {
    if (!value.empty() && value != *field) {
      *field = value;
      changed = true;
    }
  };
  merge(from.container_name(), into->mutable_container_name());
  merge(from.service(), into->mutable_service());
  merge(from.task(), into->mutable_task());
  merge(from.task_slot(), into->mutable_task_slot());
  merge(from.image(), into->mutable_image());
  merge(from.network(), into->mutable_network());
  // Only a cluster-wide word may replace a node-local one: Docker knows the
  // network, an observation that came before Docker answered only guessed.
  const bool downgrade = into->scope() == v1::ADDRESS_SCOPE_CLUSTER &&
                         from.scope() == v1::ADDRESS_SCOPE_NODE;
  if (from.scope() != v1::ADDRESS_SCOPE_UNSPECIFIED &&
      from.scope() != into->scope() && !downgrade) {
    into->set_scope(from.scope());
    changed = true;
  }
  return changed;
}

// Why a DETACH closes: the agent's word when it gave one it may give (it
// knows a `die` from a network disconnect), else what the source implies.
v1::CloseReason DetachReason(v1::AddressEventSource source,
                             const v1::AddressOwner& owner) {
  switch (owner.close_reason()) {
    case v1::CLOSE_REASON_DETACHED:
    case v1::CLOSE_REASON_CONTAINER_DIED:
    case v1::CLOSE_REASON_TASK_ENDED:
    case v1::CLOSE_REASON_NODE_LOST:
      return owner.close_reason();
    default:
      break;  // unset, unknown, or the aggregator's own NOT_IN_INVENTORY
  }
  if (source == v1::SWARM_TASKS && owner.kind() == v1::OWNER_KIND_SWARM_TASK) {
    return v1::CLOSE_REASON_TASK_ENDED;
  }
  return v1::CLOSE_REASON_DETACHED;
}

// The owner as an interval keeps it: no times, no reason (the interval's).
void ClearHolding(v1::AddressOwner* owner) {
  owner->clear_since();
  owner->clear_until();
  owner->clear_close_reason();
}

}  // namespace

bool IsClusterWide(const v1::AddressOwner& owner) {
  if (owner.kind() == v1::OWNER_KIND_SWARM_TASK ||
      owner.kind() == v1::OWNER_KIND_SWARM_VIP) {
    return true;
  }
  return owner.scope() != v1::ADDRESS_SCOPE_NODE;
}

bool ReachableFrom(const v1::AddressOwner& owner,
                   absl::string_view client_node) {
  return IsClusterWide(owner) || owner.node() == client_node;
}

v1::AddressOwner OwnershipInterval::ToProto() const {
  v1::AddressOwner out = owner;
  *out.mutable_since() = ghostpeer::ToProto(since);
  if (!open()) {
    *out.mutable_until() = ghostpeer::ToProto(until);
    out.set_close_reason(close_reason);
  }
  return out;
}

absl::Status AddressHistory::Load(std::vector<OwnershipInterval> intervals) {
  records_.clear();
  interval_count_ = 0;
  next_id_ = 1;
  absl::flat_hash_set<IntervalId> ids;
  for (OwnershipInterval& interval : intervals) {
    if (!ids.insert(interval.id).second) {
      return absl::InternalError(
          absl::StrCat("stored interval id ", interval.id, " appears twice"));
    }
    next_id_ = std::max(next_id_, interval.id + 1);
    ClearHolding(&interval.owner);
    interval.owner_id = Intern(interval.owner);
    records_[interval.owner.address()].intervals.push_back(std::move(interval));
    ++interval_count_;
  }
  for (auto& [address, record] : records_) {
    std::sort(record.intervals.begin(), record.intervals.end(), IntervalOrder);
    Recount(&record);
  }
  ++generation_;
  return absl::OkStatus();
}

OwnerId AddressHistory::Intern(const v1::AddressOwner& owner) {
  return InternKey(OwnerIdentityKey(owner), owner.container_id());
}

OwnerId AddressHistory::InternKey(const std::string& key,
                                  absl::string_view container_id) {
  auto [it, inserted] =
      owner_ids_.try_emplace(key, static_cast<OwnerId>(owners_.size()));
  if (inserted) owners_.push_back({key, std::string(container_id)});
  return it->second;
}

const AddressRecord* AddressHistory::Find(absl::string_view address) const {
  auto it = records_.find(address);
  return it == records_.end() ? nullptr : &it->second;
}

void AddressHistory::Recount(AddressRecord* record) {
  record->open_count = 0;
  record->ever_vip = false;
  for (const OwnershipInterval& interval : record->intervals) {
    if (interval.open()) ++record->open_count;
    if (interval.owner.kind() == v1::OWNER_KIND_SWARM_VIP) {
      record->ever_vip = true;
    }
  }
}

void AddressHistory::Insert(OwnershipInterval interval) {
  AddressRecord& record = records_[interval.owner.address()];
  auto position =
      std::upper_bound(record.intervals.begin(), record.intervals.end(),
                       interval, IntervalOrder);
  if (interval.open()) ++record.open_count;
  if (interval.owner.kind() == v1::OWNER_KIND_SWARM_VIP) record.ever_vip = true;
  record.intervals.insert(position, std::move(interval));
  ++interval_count_;
}

OwnershipInterval* AddressHistory::FindById(const std::string& address,
                                            IntervalId id) {
  auto it = records_.find(address);
  if (it == records_.end()) return nullptr;
  for (OwnershipInterval& interval : it->second.intervals) {
    if (interval.id == id) return &interval;
  }
  return nullptr;
}

void AddressHistory::Apply(absl::string_view reporter,
                           const v1::AddressEvent& event,
                           HistoryChanges* changes) {
  const absl::Time time = FromProto(event.time());
  switch (event.type()) {
    case v1::ATTACH:
      Attach(reporter, event.source(), time, event.owner(), changes);
      break;
    case v1::DETACH:
      Detach(event.source(), time, event.owner(), changes);
      break;
    case v1::INVENTORY:
      Inventory(reporter, event, changes);
      break;
    default:
      break;  // validation admits nothing else
  }
  ++generation_;
}

void AddressHistory::Attach(absl::string_view reporter,
                            v1::AddressEventSource source, absl::Time time,
                            const v1::AddressOwner& owner,
                            HistoryChanges* changes) {
  const OwnerId owner_id = Intern(owner);
  absl::Time since = time;
  auto it = records_.find(owner.address());
  if (it != records_.end()) {
    for (OwnershipInterval& interval : it->second.intervals) {
      if (interval.owner_id != owner_id) continue;
      if (interval.open()) {
        OwnershipInterval before = interval;
        if (MergeDescription(owner, &interval.owner)) {
          changes->push_back(
              {HistoryOp::Kind::kUpdateOwner, interval, std::move(before)});
        }
        return;
      }
      since = std::max(since, interval.until);
    }
  }
  OwnershipInterval interval;
  interval.id = next_id_++;
  interval.owner_id = owner_id;
  interval.owner = owner;
  ClearHolding(&interval.owner);
  interval.reporter = std::string(reporter);
  interval.source = source;
  interval.since = since;
  changes->push_back({HistoryOp::Kind::kInsert, interval, {}});
  Insert(std::move(interval));
}

void AddressHistory::Close(OwnershipInterval& interval, AddressRecord& record,
                           absl::Time time, v1::CloseReason reason,
                           EndEvidence evidence, HistoryChanges* changes) {
  OwnershipInterval before = interval;
  interval.until = std::max(time, interval.since);
  interval.close_reason = reason;
  interval.ended_by = evidence;
  --record.open_count;
  changes->push_back({HistoryOp::Kind::kClose, interval, std::move(before)});
}

void AddressHistory::Detach(v1::AddressEventSource source, absl::Time time,
                            const v1::AddressOwner& owner,
                            HistoryChanges* changes) {
  const OwnerId owner_id = Intern(owner);
  const v1::CloseReason reason = DetachReason(source, owner);
  // A node the managers lost is their view alone, not a departure Docker or
  // the tasks API reported: it must not outrun the Engine's node-loss rule.
  const EndEvidence evidence = reason == v1::CLOSE_REASON_NODE_LOST
                                   ? EndEvidence::kAbsence
                                   : DetachEvidence(source);
  auto it = records_.find(owner.address());
  if (it != records_.end()) {
    bool held_before = false;
    for (OwnershipInterval& interval : it->second.intervals) {
      if (interval.owner_id != owner_id) continue;
      held_before = true;
      if (!interval.open()) continue;
      Close(interval, it->second, time, reason, evidence, changes);
      return;
    }
    if (held_before) return;  // duplicate DETACH
  }
  OwnershipInterval interval;
  interval.id = next_id_++;
  interval.owner_id = owner_id;
  interval.owner = owner;
  ClearHolding(&interval.owner);
  interval.source = v1::ADDRESS_EVENT_SOURCE_UNSPECIFIED;
  interval.since = time;
  interval.until = time;
  interval.close_reason = reason;
  interval.ended_by = evidence;
  changes->push_back({HistoryOp::Kind::kInsert, interval, {}});
  Insert(std::move(interval));
}

void AddressHistory::Inventory(absl::string_view reporter,
                               const v1::AddressEvent& event,
                               HistoryChanges* changes) {
  const absl::Time time = FromProto(event.time());
  const bool cluster = IsClusterSource(event.source());
  absl::flat_hash_set<std::pair<std::string, OwnerId>> listed;
  listed.reserve(event.inventory_size());
  for (const v1::AddressOwner& owner : event.inventory()) {
    listed.emplace(owner.address(), Intern(owner));
  }
  // 1. Close what the reporter's family of sources no longer lists.
  for (auto& [address, record] : records_) {
    for (OwnershipInterval& interval : record.intervals) {
      if (!interval.open() || interval.reporter != reporter ||
          IsClusterSource(interval.source) != cluster) {
        continue;
      }
      if (listed.contains(std::make_pair(address, interval.owner_id))) continue;
      Close(interval, record, time, v1::CLOSE_REASON_NOT_IN_INVENTORY,
            EndEvidence::kAbsence, changes);
    }
  }
  // 2. Open what it lists and nobody recorded.
  for (const v1::AddressOwner& owner : event.inventory()) {
    Attach(reporter, event.source(), time, owner, changes);
  }
}

size_t AddressHistory::CloseNode(absl::string_view node, absl::Time time,
                                 HistoryChanges* changes) {
  size_t closed = 0;
  for (auto& [address, record] : records_) {
    if (record.open_count == 0) continue;
    for (OwnershipInterval& interval : record.intervals) {
      // By the owner's node only: a manager's agent reports tasks of other
      // nodes, which live on when the manager is lost.
      if (!interval.open() || interval.owner.node() != node) continue;
      Close(interval, record, time, v1::CLOSE_REASON_NODE_LOST,
            EndEvidence::kDeparture, changes);
      ++closed;
    }
  }
  if (closed > 0) ++generation_;
  return closed;
}

void AddressHistory::Merge(OwnershipInterval interval) {
  next_id_ = std::max(next_id_, interval.id + 1);
  ClearHolding(&interval.owner);
  interval.owner_id = Intern(interval.owner);
  ++generation_;
  OwnershipInterval* known = FindById(interval.owner.address(), interval.id);
  if (known == nullptr) {
    Insert(std::move(interval));
    return;
  }
  // Only until, close reason and the owner's description change once an
  // interval is stored: its place in the address's order (since, id) holds.
  const std::string address = interval.owner.address();
  *known = std::move(interval);
  Recount(&records_[address]);
}

void AddressHistory::Revert(const HistoryChanges& changes) {
  for (auto op = changes.rbegin(); op != changes.rend(); ++op) {
    const std::string& address = op->after.owner.address();
    switch (op->kind) {
      case HistoryOp::Kind::kInsert: {
        auto it = records_.find(address);
        if (it == records_.end()) break;
        auto& intervals = it->second.intervals;
        intervals.erase(std::remove_if(intervals.begin(), intervals.end(),
                                       [&](const OwnershipInterval& interval) {
                                         return interval.id == op->after.id;
                                       }),
                        intervals.end());
        --interval_count_;
        if (intervals.empty()) {
          records_.erase(it);
        } else {
          Recount(&it->second);
        }
        break;
      }
      case HistoryOp::Kind::kClose:
      case HistoryOp::Kind::kUpdateOwner: {
        OwnershipInterval* interval = FindById(address, op->after.id);
        if (interval == nullptr) break;
        *interval = op->before;
        Recount(&records_[address]);
        break;
      }
    }
  }
  ++generation_;
}

size_t AddressHistory::PurgeEndedBefore(absl::Time horizon) {
  size_t removed = 0;
  for (auto it = records_.begin(); it != records_.end();) {
    auto& intervals = it->second.intervals;
    const size_t before = intervals.size();
    intervals.erase(std::remove_if(intervals.begin(), intervals.end(),
                                   [&](const OwnershipInterval& interval) {
                                     return !interval.open() &&
                                            interval.until < horizon;
                                   }),
                    intervals.end());
    removed += before - intervals.size();
    if (intervals.empty()) {
      records_.erase(it++);
    } else {
      if (before != intervals.size()) Recount(&it->second);
      ++it;
    }
  }
  interval_count_ -= removed;
  if (removed > 0) ++generation_;
  return removed;
}

}  // namespace ghostpeer::aggregator
