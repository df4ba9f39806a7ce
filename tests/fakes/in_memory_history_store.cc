#include "tests/fakes/in_memory_history_store.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ghostpeer::fakes {

using aggregator::HistoryChanges;
using aggregator::HistoryOp;
using aggregator::IntervalId;
using aggregator::OwnershipInterval;
using aggregator::StoredFinding;
using aggregator::StoredState;

namespace {

// std::erase_if for maps, which C++17 lacks.
template <typename Map, typename Predicate>
void EraseIf(Map& map, Predicate erase) {
  for (auto it = map.begin(); it != map.end();) {
    it = erase(it->second) ? map.erase(it) : std::next(it);
  }
}

}  // namespace

void InMemoryHistoryStore::FailNext(Write write, int count,
                                    absl::Status status) {
  absl::MutexLock lock(&mu_);
  injected_[write] = {count, std::move(status)};
}

int InMemoryHistoryStore::successful_writes(Write write) const {
  absl::MutexLock lock(&mu_);
  auto it = successes_.find(write);
  return it == successes_.end() ? 0 : it->second;
}

absl::Status InMemoryHistoryStore::TakeInjected(Write write) {
  auto it = injected_.find(write);
  if (it == injected_.end() || it->second.remaining <= 0) {
    return absl::OkStatus();
  }
  --it->second.remaining;
  return it->second.status;
}

absl::StatusOr<StoredState> InMemoryHistoryStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.created_at = created_at_;
  for (const auto& [id, interval] : intervals_) {
    state.intervals.push_back(interval);
  }
  for (const auto& [key, seq] : seqs_) {
    state.seqs.push_back({key.first, key.second, seq.seq});
  }
  for (const auto& [id, finding] : findings_) {
    state.findings.push_back(finding.stored);
  }
  return state;
}

absl::Status InMemoryHistoryStore::ApplyChanges(const HistoryChanges& changes) {
  // All or nothing: change a copy, keep it only if every op applied. Like
  // SQL's UPDATE, a close or owner update of an unknown id changes nothing;
  // like a primary key, a second insert of one id is an error.
  auto intervals = intervals_;
  for (const HistoryOp& op : changes) {
    const IntervalId id = op.after.id;
    switch (op.kind) {
      case HistoryOp::Kind::kInsert: {
        OwnershipInterval stored = op.after;
        stored.owner_id = 0;  // process-local; Load() leaves it unset
        if (!intervals.emplace(id, std::move(stored)).second) {
          return absl::InternalError(
              absl::StrCat("in-memory store: interval ", id, " exists"));
        }
        break;
      }
      case HistoryOp::Kind::kClose:
        if (auto it = intervals.find(id); it != intervals.end()) {
          it->second.until = op.after.until;
          it->second.close_reason = op.after.close_reason;
        }
        break;
      case HistoryOp::Kind::kUpdateOwner:
        if (auto it = intervals.find(id); it != intervals.end()) {
          it->second.owner = op.after.owner;
        }
        break;
    }
  }
  intervals_ = std::move(intervals);
  return absl::OkStatus();
}

absl::Status InMemoryHistoryStore::CommitHistoryChanges(
    const HistoryChanges& changes) {
  if (changes.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (absl::Status injected = TakeInjected(Write::kAddressBatch);
      !injected.ok()) {
    return injected;
  }
  GHOSTPEER_RETURN_IF_ERROR(ApplyChanges(changes));
  ++successes_[Write::kAddressBatch];
  return absl::OkStatus();
}

absl::Status InMemoryHistoryStore::CommitAddressBatch(
    const std::string& node, const std::string& agent_instance, uint64_t seq,
    const HistoryChanges& changes, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (absl::Status injected = TakeInjected(Write::kAddressBatch);
      !injected.ok()) {
    return injected;
  }
  GHOSTPEER_RETURN_IF_ERROR(ApplyChanges(changes));
  Seq& stored = seqs_[{node, agent_instance}];
  stored.seq = std::max(stored.seq, seq);
  stored.updated = now;
  ++successes_[Write::kAddressBatch];
  return absl::OkStatus();
}

absl::Status InMemoryHistoryStore::SaveFindings(
    const std::vector<StoredFinding>& findings, absl::Time now) {
  if (findings.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (absl::Status injected = TakeInjected(Write::kFindings); !injected.ok()) {
    return injected;
  }
  for (const StoredFinding& finding : findings) {
    findings_[finding.finding.id()] = {finding, now};
  }
  ++successes_[Write::kFindings];
  return absl::OkStatus();
}

absl::Status InMemoryHistoryStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  if (absl::Status injected = TakeInjected(Write::kPurge); !injected.ok()) {
    return injected;
  }
  EraseIf(intervals_, [&](const OwnershipInterval& interval) {
    return !interval.open() && interval.until < horizon;
  });
  EraseIf(findings_, [&](const Finding& finding) {
    return finding.stored.finding.status() == v1::RESOLVED &&
           finding.updated < horizon;
  });
  EraseIf(seqs_, [&](const Seq& seq) { return seq.updated < horizon; });
  ++successes_[Write::kPurge];
  return absl::OkStatus();
}

}  // namespace ghostpeer::fakes
