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

NodeSockets::Prepared NodeSockets::PrepareFull(
    v1::SocketSnapshot snapshot) const {
  Prepared prepared;
  prepared.full_ = true;
  prepared.snapshot_ =
      std::make_unique<v1::SocketSnapshot>(std::move(snapshot));
  Deduplicate(prepared.snapshot_->mutable_snapshot(), &prepared.keys_,
              &prepared.fingerprints_);
  prepared.bytes_ = prepared.snapshot_->ByteSizeLong();
  prepared.view_size_ = prepared.fingerprints_.size();
  prepared.held_bytes_ = prepared.bytes_;
  return prepared;
}

std::optional<NodeSockets::Prepared> NodeSockets::PrepareDelta(
    v1::SocketSnapshot delta) const {
  if (base_ == nullptr || delta.base_snapshot_id() != base_->snapshot_id()) {
    return std::nullopt;
  }
  Prepared prepared;
  prepared.snapshot_ = std::make_unique<v1::SocketSnapshot>(std::move(delta));
  const v1::SocketSnapshot& next = *prepared.snapshot_;
  Deduplicate(prepared.snapshot_->mutable_snapshot(), &prepared.keys_,
              &prepared.fingerprints_);
  prepared.hidden_.reserve(prepared.keys_.size() + next.removed_size());
  for (uint64_t key : prepared.fingerprints_) {
    if (base_keys_.contains(key)) prepared.hidden_.insert(key);
  }
  for (const v1::SocketKey& key : next.removed()) {
    const uint64_t fingerprint = SocketFingerprint(SocketKeyView::Of(key));
    // A key both removed and sent is present: the record wins.
    if (base_keys_.contains(fingerprint) &&
        !prepared.keys_.contains(fingerprint)) {
      prepared.hidden_.insert(fingerprint);
    }
  }
  const absl::Duration age = FromProto(next.snapshot().taken_at()) -
                             FromProto(base_->snapshot().taken_at());
  const int64_t age_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(age));
  prepared.age_ms_ = static_cast<uint32_t>(
      std::min<int64_t>(age_ms, std::numeric_limits<uint32_t>::max()));
  prepared.bytes_ = next.ByteSizeLong();
  prepared.view_size_ =
      base_keys_.size() - prepared.hidden_.size() + prepared.keys_.size();
  prepared.held_bytes_ = base_bytes_ + prepared.bytes_;
  return prepared;
}

void NodeSockets::Apply(Prepared prepared) {
  if (prepared.full_) {
    base_ = std::move(prepared.snapshot_);
    base_keys_ = std::move(prepared.keys_);
    base_fingerprints_ = std::move(prepared.fingerprints_);
    base_bytes_ = prepared.bytes_;
    delta_.reset();
    delta_fingerprints_.clear();
    hidden_.clear();
    delta_age_ms_ = 0;
    delta_bytes_ = 0;
  } else {
    delta_ = std::move(prepared.snapshot_);
    delta_fingerprints_ = std::move(prepared.fingerprints_);
    hidden_ = std::move(prepared.hidden_);
    delta_age_ms_ = prepared.age_ms_;
    delta_bytes_ = prepared.bytes_;
  }
  size_ = prepared.view_size_;
}

void NodeSockets::ApplyFull(v1::SocketSnapshot snapshot) {
  Apply(PrepareFull(std::move(snapshot)));
}

bool NodeSockets::ApplyDelta(v1::SocketSnapshot delta) {
  std::optional<Prepared> prepared = PrepareDelta(std::move(delta));
  if (!prepared.has_value()) return false;
  Apply(*std::move(prepared));
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
  base_bytes_ = 0;
  delta_bytes_ = 0;
}

}  // namespace ghostpeer::aggregator
