#include "aggregator/findings.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

bool SameOwnerRecord(const v1::AddressOwner& a, const v1::AddressOwner& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// What a follower wants to hear about; last_seen and tcp_info ages move on
// every snapshot and would turn UPDATED into noise.
bool Noteworthy(const v1::Finding& before, const v1::Finding& after) {
  return before.severity() != after.severity() ||
         before.bytes_at_risk() != after.bytes_at_risk() ||
         before.socket().state() != after.socket().state() ||
         !SameOwnerRecord(before.peer_last_owner(), after.peer_last_owner()) ||
         !SameOwnerRecord(before.peer_current_owner(),
                          after.peer_current_owner());
}

}  // namespace

std::vector<FindingChange> ReconcileFindings(
    std::vector<DetectedFinding> detected, absl::Time now,
    FindingMap* findings) {
  const google::protobuf::Timestamp now_proto = ToProto(now);
  std::vector<FindingChange> changes;
  absl::flat_hash_set<std::string> seen;
  seen.reserve(detected.size());
  for (DetectedFinding& d : detected) {
    const std::string id = d.finding.id();
    seen.insert(id);
    auto it = findings->find(id);
    if (it == findings->end() || it->second.finding.status() != v1::OPEN) {
      d.finding.set_status(v1::OPEN);
      *d.finding.mutable_first_seen() = now_proto;
      *d.finding.mutable_last_seen() = now_proto;
      d.finding.clear_resolved_at();
      TrackedFinding& tracked = (*findings)[id];
      tracked.finding = std::move(d.finding);
      tracked.memory = std::move(d.memory);
      changes.push_back({v1::OPENED, id});
      continue;
    }
    TrackedFinding& tracked = it->second;
    const bool noteworthy = Noteworthy(tracked.finding, d.finding);
    *d.finding.mutable_first_seen() = tracked.finding.first_seen();
    *d.finding.mutable_last_seen() = now_proto;
    tracked.finding = std::move(d.finding);
    tracked.memory = std::move(d.memory);
    changes.push_back(
        {noteworthy ? v1::UPDATED : v1::FINDING_EVENT_TYPE_UNSPECIFIED, id});
  }
  for (auto& [id, tracked] : *findings) {
    if (tracked.finding.status() != v1::OPEN || seen.contains(id)) continue;
    tracked.finding.set_status(v1::RESOLVED);
    *tracked.finding.mutable_resolved_at() = now_proto;
    changes.push_back({v1::CLOSED, id});
  }
  std::sort(changes.begin(), changes.end(),
            [](const FindingChange& a, const FindingChange& b) {
              return a.id < b.id;
            });
  return changes;
}

std::vector<FindingChange> ResolveAll(absl::Time now, FindingMap* findings) {
  std::vector<FindingChange> changes;
  for (auto& [id, tracked] : *findings) {
    if (tracked.finding.status() != v1::OPEN) continue;
    tracked.finding.set_status(v1::RESOLVED);
    *tracked.finding.mutable_resolved_at() = ToProto(now);
    changes.push_back({v1::CLOSED, id});
  }
  return changes;
}

size_t ForgetResolvedBefore(absl::Time horizon, FindingMap* findings) {
  size_t removed = 0;
  for (auto it = findings->begin(); it != findings->end();) {
    const v1::Finding& finding = it->second.finding;
    if (finding.status() == v1::RESOLVED &&
        FromProto(finding.resolved_at()) < horizon) {
      it = findings->erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

}  // namespace ghostpeer::aggregator
