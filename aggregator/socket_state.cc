#include "aggregator/socket_state.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

uint32_t AddSaturating(uint32_t a, uint32_t b) {
  const uint64_t sum = static_cast<uint64_t>(a) + b;
  return sum > std::numeric_limits<uint32_t>::max()
             ? std::numeric_limits<uint32_t>::max()
             : static_cast<uint32_t>(sum);
}

}  // namespace

v1::SocketRecord ReAged(const SocketView& view) {
  v1::SocketRecord record = *view.record;
  if (view.extra_age_ms > 0 && record.has_tcp_info()) {
    v1::TcpInfo* info = record.mutable_tcp_info();
    info->set_last_data_recv_ms(
        AddSaturating(info->last_data_recv_ms(), view.extra_age_ms));
    info->set_last_ack_recv_ms(
        AddSaturating(info->last_ack_recv_ms(), view.extra_age_ms));
    info->set_last_data_sent_ms(
        AddSaturating(info->last_data_sent_ms(), view.extra_age_ms));
  }
  return record;
}

void NodeSockets::Deduplicate(v1::NodeSnapshot* snapshot,
                              absl::flat_hash_set<uint64_t>* keys,
                              std::vector<uint64_t>* fingerprints) {
  keys->clear();
  keys->reserve(snapshot->sockets_size());
  fingerprints->clear();
  fingerprints->reserve(snapshot->sockets_size());
  std::vector<int> duplicates;
  for (int i = 0; i < snapshot->sockets_size(); ++i) {
    const uint64_t fingerprint =
        SocketFingerprint(SocketKeyView::Of(snapshot->sockets(i)));
    if (keys->insert(fingerprint).second) {
      fingerprints->push_back(fingerprint);
    } else {
      duplicates.push_back(i);
    }
  }
  // Rare: a dump that saw a socket twice. Delete the repeats, last first.
  for (auto it = duplicates.rbegin(); it != duplicates.rend(); ++it) {
    snapshot->mutable_sockets()->DeleteSubrange(*it, 1);
  }
}

void NodeSockets::ApplyFull(v1::SocketSnapshot snapshot) {
  delta_.reset();
  delta_fingerprints_.clear();
  hidden_.clear();
  delta_age_ms_ = 0;
  base_ = std::make_unique<v1::SocketSnapshot>(std::move(snapshot));
  Deduplicate(base_->mutable_snapshot(), &base_keys_, &base_fingerprints_);
  size_ = base_fingerprints_.size();
}

bool NodeSockets::ApplyDelta(v1::SocketSnapshot delta) {
  if (base_ == nullptr || delta.base_snapshot_id() != base_->snapshot_id()) {
    return false;
  }
  auto next = std::make_unique<v1::SocketSnapshot>(std::move(delta));
  absl::flat_hash_set<uint64_t> delta_keys;
  std::vector<uint64_t> delta_fingerprints;
  Deduplicate(next->mutable_snapshot(), &delta_keys, &delta_fingerprints);
  absl::flat_hash_set<uint64_t> hidden;
  hidden.reserve(delta_keys.size() + next->removed_size());
  for (uint64_t key : delta_fingerprints) {
    if (base_keys_.contains(key)) hidden.insert(key);
  }
  for (const v1::SocketKey& key : next->removed()) {
    const uint64_t fingerprint = SocketFingerprint(SocketKeyView::Of(key));
    // A key both removed and sent is present: the record wins.
    if (base_keys_.contains(fingerprint) && !delta_keys.contains(fingerprint)) {
      hidden.insert(fingerprint);
    }
  }
  const absl::Duration age = FromProto(next->snapshot().taken_at()) -
                             FromProto(base_->snapshot().taken_at());
  const int64_t age_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(age));
  delta_age_ms_ = static_cast<uint32_t>(
      std::min<int64_t>(age_ms, std::numeric_limits<uint32_t>::max()));
  size_ = base_keys_.size() - hidden.size() + delta_keys.size();
  hidden_ = std::move(hidden);
  delta_ = std::move(next);
  delta_fingerprints_ = std::move(delta_fingerprints);
  return true;
}

void NodeSockets::Clear() {
  base_.reset();
  delta_.reset();
  base_keys_.clear();
  base_fingerprints_.clear();
  delta_fingerprints_.clear();
  hidden_.clear();
  delta_age_ms_ = 0;
  size_ = 0;
}

}  // namespace ghostpeer::aggregator
