#include "agent/report/delta_encoder.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace ghostpeer::agent {
namespace {

// Full snapshots awaiting acknowledgement; older ones are forgotten (their
// ack, if it ever comes, is simply ignored).
constexpr size_t kMaxPendingFull = 4;

uint64_t Fingerprint(const v1::SocketRecord& record) {
  v1::SocketRecord normalized = record;
  if (normalized.has_tcp_info()) {
    v1::TcpInfo* info = normalized.mutable_tcp_info();
    info->clear_last_data_recv_ms();
    info->clear_last_ack_recv_ms();
    info->clear_last_data_sent_ms();
  }
  normalized.clear_timer_expires_ms();
  std::string bytes;
  normalized.SerializeToString(&bytes);  // deterministic enough: same binary
  return absl::HashOf(bytes);
}

}  // namespace

v1::SocketKey KeyOf(const v1::SocketRecord& record) {
  v1::SocketKey key;
  key.set_netns_inode(record.netns_inode());
  key.set_local_ip(record.local_ip());
  key.set_local_port(record.local_port());
  key.set_remote_ip(record.remote_ip());
  key.set_remote_port(record.remote_port());
  key.set_inode(record.inode());
  // A TCP and a UDP socket with the same addresses and ports are two
  // sockets; UNSPECIFIED (a record from an older capture) is TCP.
  key.set_protocol(record.protocol() == v1::PROTOCOL_UDP ? v1::PROTOCOL_UDP
                                                         : v1::PROTOCOL_TCP);
  return key;
}

std::string KeyString(const v1::SocketKey& key) {
  return absl::StrCat(key.netns_inode(), "|", key.protocol(), "|",
                      key.local_ip(), "|", key.local_port(), "|",
                      key.remote_ip(), "|", key.remote_port(), "|",
                      key.inode());
}

DeltaEncoder::DeltaEncoder(int full_every)
    : full_every_(full_every > 0 ? full_every : 1) {}

DeltaEncoder::Fingerprints DeltaEncoder::FingerprintsOf(
    const v1::NodeSnapshot& snapshot) {
  Fingerprints fingerprints;
  fingerprints.reserve(snapshot.sockets_size());
  for (const v1::SocketRecord& record : snapshot.sockets()) {
    v1::SocketKey key = KeyOf(record);
    std::string key_string = KeyString(key);
    fingerprints[std::move(key_string)] = {Fingerprint(record), std::move(key)};
  }
  return fingerprints;
}

v1::SocketSnapshot DeltaEncoder::Encode(const v1::NodeSnapshot& snapshot) {
  v1::SocketSnapshot out;
  out.set_snapshot_id(next_id_++);
  const bool full =
      full_required_ || base_id_ == 0 || since_full_ + 1 >= full_every_;
  if (full) {
    out.set_full(true);
    *out.mutable_snapshot() = snapshot;
    pending_full_.push_back({out.snapshot_id(), FingerprintsOf(snapshot)});
    if (pending_full_.size() > kMaxPendingFull) pending_full_.pop_front();
    full_required_ = false;
    since_full_ = 0;
    return out;
  }

  ++since_full_;
  out.set_full(false);
  out.set_base_snapshot_id(base_id_);
  // Everything but the sockets travels as is: namespaces and stats are small.
  v1::NodeSnapshot* delta = out.mutable_snapshot();
  *delta = snapshot;
  delta->clear_sockets();
  absl::flat_hash_set<std::string> seen;
  seen.reserve(snapshot.sockets_size());
  for (const v1::SocketRecord& record : snapshot.sockets()) {
    std::string key = KeyString(KeyOf(record));
    auto it = base_.find(key);
    if (it == base_.end() || it->second.fingerprint != Fingerprint(record)) {
      *delta->add_sockets() = record;
    }
    seen.insert(std::move(key));
  }
  for (const auto& [key, entry] : base_) {
    if (!seen.contains(key)) *out.add_removed() = entry.key;
  }
  return out;
}

void DeltaEncoder::Acknowledge(const v1::Ack& ack) {
  if (ack.full_snapshot_required()) {
    full_required_ = true;
    return;
  }
  if (ack.full_snapshot_id() == 0 || ack.full_snapshot_id() == base_id_) return;
  for (auto it = pending_full_.begin(); it != pending_full_.end(); ++it) {
    if (it->id != ack.full_snapshot_id()) continue;
    base_id_ = it->id;
    base_ = std::move(it->fingerprints);
    // Older pending fulls can no longer become the base.
    pending_full_.erase(pending_full_.begin(), it + 1);
    return;
  }
}

void DeltaEncoder::RequireFull() {
  full_required_ = true;
  base_id_ = 0;
  base_.clear();
  pending_full_.clear();
}

}  // namespace ghostpeer::agent
