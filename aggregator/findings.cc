#include "aggregator/findings.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "aggregator/socket_state.h"
#include "common/story.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

bool SameOwnerRecord(const v1::AddressOwner& a, const v1::AddressOwner& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// What a follower wants to hear about; last_seen and tcp_info ages move on
// every snapshot and would turn UPDATED into noise.
bool Noteworthy(const v1::Finding& before, const v1::Finding& after) {
  return before.kind() != after.kind() ||
         before.severity() != after.severity() ||
         before.bytes_at_risk() != after.bytes_at_risk() ||
         before.socket().state() != after.socket().state() ||
         !SameOwnerRecord(before.peer_last_owner(), after.peer_last_owner()) ||
         !SameOwnerRecord(before.peer_current_owner(),
                          after.peer_current_owner()) ||
         !SameOwnerRecord(before.vip_owner(), after.vip_owner());
}

// Open findings by (node, socket), for detections whose id no open finding
// has: ids of older builds hashed the kind as well (detector.h FindingId).
class OpenBySocket {
 public:
  explicit OpenBySocket(const FindingMap& findings) {
    for (const auto& [id, tracked] : findings) {
      if (tracked.finding.status() != v1::OPEN) continue;
      by_socket_[Key(tracked.finding)].push_back(&tracked.finding);
    }
  }

  // The id to continue for `detected`, or "" for none; each id is handed
  // out once. Prefers a finding of the same kind.
  std::string Take(const v1::Finding& detected) {
    auto it = by_socket_.find(Key(detected));
    if (it == by_socket_.end()) return "";
    for (const v1::Finding*& candidate : it->second) {
      if (candidate == nullptr || candidate->kind() != detected.kind()) {
        continue;
      }
      return std::exchange(candidate, nullptr)->id();
    }
    for (const v1::Finding*& candidate : it->second) {
      if (candidate != nullptr) return std::exchange(candidate, nullptr)->id();
    }
    return "";
  }

 private:
  static std::pair<std::string, uint64_t> Key(const v1::Finding& finding) {
    return {finding.socket().node(),
            SocketFingerprint(SocketKeyView::Of(finding.socket()))};
  }
  absl::flat_hash_map<std::pair<std::string, uint64_t>,
                      std::vector<const v1::Finding*>>
      by_socket_;
};

}  // namespace

std::vector<FindingChange> ReconcileFindings(
    std::vector<DetectedFinding> detected, absl::Time now,
    FindingMap* findings) {
  const google::protobuf::Timestamp now_proto = ToProto(now);
  std::vector<FindingChange> changes;
  absl::flat_hash_set<std::string> seen;
  seen.reserve(detected.size());
  std::optional<OpenBySocket> open_by_socket;  // built when first needed
  for (DetectedFinding& d : detected) {
    auto it = findings->find(d.finding.id());
    if (it == findings->end() || it->second.finding.status() != v1::OPEN) {
      if (!open_by_socket.has_value()) open_by_socket.emplace(*findings);
      if (std::string older = open_by_socket->Take(d.finding);
          !older.empty() && !seen.contains(older)) {
        d.finding.set_id(older);
        it = findings->find(older);
      }
    }
    const std::string id = d.finding.id();
    seen.insert(id);
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
    const bool kind_changed = tracked.finding.kind() != d.finding.kind();
    d.finding.set_previous_kind(kind_changed ? tracked.finding.kind()
                                             : tracked.finding.previous_kind());
    if (d.finding.previous_kind() != v1::FINDING_KIND_UNSPECIFIED) {
      // The detector told the story without the finding's past.
      d.finding.set_story(ComposeStory(d.finding, StoryContext{now}));
    }
    const bool noteworthy = Noteworthy(tracked.finding, d.finding);
    // What ghostpeer did about it is the episode's, not the snapshot's.
    d.finding.set_remediation(tracked.finding.remediation());
    *d.finding.mutable_first_seen() = tracked.finding.first_seen();
    *d.finding.mutable_last_seen() = now_proto;
    tracked.finding = std::move(d.finding);
    tracked.memory = std::move(d.memory);
    changes.push_back(
        {noteworthy ? v1::UPDATED : v1::FINDING_EVENT_TYPE_UNSPECIFIED, id,
         kind_changed});
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
