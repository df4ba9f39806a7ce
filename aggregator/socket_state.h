// The sockets of one node as the latest snapshot shows them: the last full
// snapshot (the base deltas refer to) plus, at most, one delta on top.
#ifndef GHOSTPEER_AGGREGATOR_SOCKET_STATE_H_
#define GHOSTPEER_AGGREGATOR_SOCKET_STATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

// A socket's identity within a node (v1::SocketKey), viewing strings owned
// by a record or key message that must outlive it.
struct SocketKeyView {
  uint64_t netns_inode = 0;
  absl::string_view local_ip;
  uint32_t local_port = 0;
  absl::string_view remote_ip;
  uint32_t remote_port = 0;
  uint64_t inode = 0;
  // TCP or UDP: a TCP and a UDP socket may share addresses and ports.
  // UNSPECIFIED (agents before UDP support) and unknown values are TCP.
  v1::Protocol protocol = v1::PROTOCOL_TCP;

  static v1::Protocol Normalized(v1::Protocol protocol) {
    return protocol == v1::PROTOCOL_UDP ? v1::PROTOCOL_UDP : v1::PROTOCOL_TCP;
  }
  static SocketKeyView Of(const v1::SocketRecord& record) {
    return {record.netns_inode(),         record.local_ip(),
            record.local_port(),          record.remote_ip(),
            record.remote_port(),         record.inode(),
            Normalized(record.protocol())};
  }
  static SocketKeyView Of(const v1::SocketKey& key) {
    return {key.netns_inode(),         key.local_ip(),    key.local_port(),
            key.remote_ip(),           key.remote_port(), key.inode(),
            Normalized(key.protocol())};
  }
  friend bool operator==(const SocketKeyView& a, const SocketKeyView& b) {
    return a.netns_inode == b.netns_inode && a.inode == b.inode &&
           a.local_port == b.local_port && a.remote_port == b.remote_port &&
           a.protocol == b.protocol && a.local_ip == b.local_ip &&
           a.remote_ip == b.remote_ip;
  }
  template <typename H>
  friend H AbslHashValue(H h, const SocketKeyView& k) {
    return H::combine(std::move(h), k.netns_inode, k.local_ip, k.local_port,
                      k.remote_ip, k.remote_port, k.inode,
                      static_cast<int>(k.protocol));
  }
};

// A 64-bit digest of a socket key, computed once per record so per-snapshot
// maps (delta reconstruction, detector memory) hash an integer instead of
// two address strings. In-process only (absl::Hash is seeded per process):
// never persist it. Two live sockets of one node colliding is a ~2^-64 event
// per pair; one of them would be taken for a duplicate and dropped from the
// view until the next full snapshot.
inline uint64_t SocketFingerprint(const SocketKeyView& key) {
  return absl::HashOf(key);
}

// One socket of the current view. A record carried over from the base into
// a delta is `extra_age_ms` older than the base says: its tcp_info
// last_*_ms ages must be read with that added (see ReAged()). `fingerprint`
// is SocketFingerprint of its key (0: not computed; users compute it).
struct SocketView {
  const v1::SocketRecord* record = nullptr;
  uint32_t extra_age_ms = 0;
  uint64_t fingerprint = 0;
};

// A copy of `view`'s record with the ages re-aged: tcp_info
// last_data_recv_ms, last_ack_recv_ms and last_data_sent_ms plus
// `extra_age_ms`, saturating.
v1::SocketRecord ReAged(const SocketView& view);

// Reconstruction rules (the agent's DeltaEncoder is the other half):
//
// * A full snapshot replaces everything and becomes the base.
// * A delta is always against the base (the last acknowledged full
//   snapshot), never against the previous delta; a new delta replaces the
//   previous one. Current = base - removed - replaced + delta's sockets.
// * The agent leaves a socket out of a delta when nothing but its ever-
//   growing tcp_info ages (last_data_recv_ms, last_ack_recv_ms,
//   last_data_sent_ms) changed against the base. Such a record is re-aged on
//   read by (delta taken_at - base taken_at), both times from the same
//   agent's clock. Its timer_expires_ms (a countdown the agent also ignores)
//   is left as in the base: it cannot be reconstructed.
// * Dumps are not atomic: a key appearing twice in one message keeps its
//   first record.
//
// Not thread-safe: the Engine holds the node's lock.
class NodeSockets {
 public:
  // A validated snapshot made ready to apply to the NodeSockets that
  // prepared it: deduplicated, and the view it would make measured, with
  // nothing changed yet. Lets the caller check limits on the result and
  // refuse it whole. Valid until that NodeSockets next changes.
  class Prepared {
   public:
    // Sockets in the view once applied.
    size_t view_size() const { return view_size_; }
    // held_bytes() once applied.
    size_t held_bytes() const { return held_bytes_; }

   private:
    friend class NodeSockets;
    Prepared() = default;

    std::unique_ptr<v1::SocketSnapshot> snapshot_;
    bool full_ = false;
    absl::flat_hash_set<uint64_t> keys_;
    std::vector<uint64_t> fingerprints_;
    // Deltas only: base keys the delta removes or replaces.
    absl::flat_hash_set<uint64_t> hidden_;
    uint32_t age_ms_ = 0;
    size_t bytes_ = 0;
    size_t view_size_ = 0;
    size_t held_bytes_ = 0;
  };

  NodeSockets() = default;
  NodeSockets(const NodeSockets&) = delete;
  NodeSockets& operator=(const NodeSockets&) = delete;

  // A validated full snapshot, ready to become the base and the view.
  Prepared PrepareFull(v1::SocketSnapshot snapshot) const;

  // A validated delta, ready to apply; nullopt when there is no base or
  // `delta.base_snapshot_id` is not it.
  std::optional<Prepared> PrepareDelta(v1::SocketSnapshot delta) const;

  // Applies what this NodeSockets prepared since it last changed.
  void Apply(Prepared prepared);

  // PrepareFull + Apply.
  void ApplyFull(v1::SocketSnapshot snapshot);

  // PrepareDelta + Apply. Returns false, changing nothing, when there is no
  // base or `delta.base_snapshot_id` is not it.
  bool ApplyDelta(v1::SocketSnapshot delta);

  // Forgets everything (the agent instance changed).
  void Clear();

  bool has_base() const { return base_ != nullptr; }
  uint64_t base_snapshot_id() const { return base_ ? base_->snapshot_id() : 0; }
  // The latest snapshot applied (full or delta): its time, namespaces,
  // stats. Its `sockets` are not the view. Requires has_base().
  const v1::NodeSnapshot& latest() const {
    return delta_ ? delta_->snapshot() : base_->snapshot();
  }
  uint64_t latest_snapshot_id() const {
    return delta_ ? delta_->snapshot_id() : base_snapshot_id();
  }
  // Number of sockets in the current view.
  size_t size() const { return size_; }
  // What the view costs to keep, counted as the serialized size of the
  // messages held (the base and the delta on top). Protobuf objects, key
  // sets and detector memory take about 4x that in memory; the count is for
  // budgets (Engine's max_socket_bytes), cheap to compute and the same on
  // every build.
  size_t held_bytes() const { return base_bytes_ + delta_bytes_; }

  // Calls fn(const SocketView&) for every socket of the current view: base
  // records first (in snapshot order), then the delta's.
  template <typename Fn>
  void ForEach(Fn fn) const {
    if (base_ == nullptr) return;
    const auto& base = base_->snapshot().sockets();
    for (int i = 0; i < base.size(); ++i) {
      const uint64_t fingerprint = base_fingerprints_[i];
      if (!hidden_.empty() && hidden_.contains(fingerprint)) continue;
      fn(SocketView{&base.Get(i), delta_age_ms_, fingerprint});
    }
    if (delta_ == nullptr) return;
    const auto& delta = delta_->snapshot().sockets();
    for (int i = 0; i < delta.size(); ++i) {
      fn(SocketView{&delta.Get(i), 0, delta_fingerprints_[i]});
    }
  }

 private:
  // Drops later records whose key repeats an earlier one; fills `*keys`
  // and `*fingerprints` (parallel to the remaining records).
  static void Deduplicate(v1::NodeSnapshot* snapshot,
                          absl::flat_hash_set<uint64_t>* keys,
                          std::vector<uint64_t>* fingerprints);

  std::unique_ptr<v1::SocketSnapshot> base_;
  absl::flat_hash_set<uint64_t> base_keys_;
  std::vector<uint64_t> base_fingerprints_;
  std::unique_ptr<v1::SocketSnapshot> delta_;
  std::vector<uint64_t> delta_fingerprints_;
  // Fingerprints of base keys the delta removes or replaces.
  absl::flat_hash_set<uint64_t> hidden_;
  uint32_t delta_age_ms_ = 0;
  size_t size_ = 0;
  size_t base_bytes_ = 0;
  size_t delta_bytes_ = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SOCKET_STATE_H_
