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

// The strings of one stored snapshot, each kept once: id 0 is "", the
// others index `ends`. Bytes are kept exactly as received.
struct SocketStrings {
  std::string bytes;
  std::vector<uint32_t> ends;  // ends[id - 1]: where string `id` ends

  absl::string_view Get(uint32_t id) const {
    if (id == 0) return {};
    const uint32_t begin = id == 1 ? 0 : ends[id - 2];
    return absl::string_view(bytes).substr(begin, ends[id - 1] - begin);
  }
};

// Who a socket belongs to and where, as ids into SocketStrings and
// numbers: the fields every socket of one process in one namespace shares
// (the translating namespace is the node's), stored once for them all.
struct SocketOwner {
  uint64_t netns_inode = 0;
  uint64_t translation_netns_inode = 0;
  uint32_t node = 0;
  uint32_t node_id = 0;
  uint32_t comm = 0;
  uint32_t container_id = 0;
  uint32_t container_name = 0;
  uint32_t service = 0;
  uint32_t task = 0;
  uint32_t task_slot = 0;
  int32_t pid = 0;
  uint32_t uid = 0;

  friend bool operator==(const SocketOwner& a, const SocketOwner& b) {
    return a.netns_inode == b.netns_inode &&
           a.translation_netns_inode == b.translation_netns_inode &&
           a.node == b.node && a.node_id == b.node_id && a.comm == b.comm &&
           a.container_id == b.container_id &&
           a.container_name == b.container_name && a.service == b.service &&
           a.task == b.task && a.task_slot == b.task_slot && a.pid == b.pid &&
           a.uid == b.uid;
  }
  template <typename H>
  friend H AbslHashValue(H h, const SocketOwner& o) {
    return H::combine(std::move(h), o.netns_inode, o.translation_netns_inode,
                      o.node, o.node_id, o.comm, o.container_id,
                      o.container_name, o.service, o.task, o.task_slot, o.pid,
                      o.uid);
  }
};

// One socket record in 136 bytes instead of the ~850 a v1::SocketRecord
// takes in memory: fixed-width fields, strings as SocketStrings ids, the
// owner as a SocketOwner index. Every field of the record is kept, with
// its exact value: a record that does not fit (a port above 65535, an enum
// or counter beyond its byte, unknown fields from a newer agent) is kept
// whole beside the compact ones instead (kSpilled; `owner` indexes the
// spilled records).
struct CompactSocket {
  static constexpr uint8_t kHasTcpInfo = 1;
  static constexpr uint8_t kPeerClosed = 2;
  static constexpr uint8_t kSpilled = 4;

  uint64_t fingerprint = 0;  // SocketFingerprint of the key
  uint64_t inode = 0;
  uint64_t cookie = 0;
  uint64_t bytes_acked = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint32_t local_ip = 0;    // SocketStrings id
  uint32_t remote_ip = 0;   // SocketStrings id
  uint32_t backend_ip = 0;  // SocketStrings id
  uint32_t owner = 0;       // SocketOwner index (spilled: record index)
  uint32_t send_queue = 0;
  uint32_t recv_queue = 0;
  uint32_t timer_expires_ms = 0;
  uint32_t unacked = 0;
  uint32_t total_retrans = 0;
  uint32_t last_data_recv_ms = 0;
  uint32_t last_ack_recv_ms = 0;
  uint32_t last_data_sent_ms = 0;
  uint32_t rto_us = 0;
  uint32_t notsent_bytes = 0;
  uint32_t lost = 0;
  uint32_t snd_cwnd = 0;
  uint32_t rtt_us = 0;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint16_t backend_port = 0;
  uint8_t state = 0;
  uint8_t protocol = 0;
  uint8_t source = 0;
  uint8_t translated_by = 0;
  uint8_t timer = 0;
  uint8_t retransmits = 0;
  uint8_t backoff = 0;
  uint8_t probes = 0;
  uint8_t flags = 0;
};

// The sockets of one stored snapshot (a base or a delta), in snapshot
// order, deduplicated, with what their ids refer to.
struct SocketBatch {
  std::vector<CompactSocket> sockets;
  SocketStrings strings;
  std::vector<SocketOwner> owners;
  std::vector<v1::SocketRecord> spilled;
  size_t spilled_bytes = 0;  // SpaceUsedLong of `spilled`

  // What it costs to keep, in bytes (element sizes, not capacities).
  size_t Bytes() const;
};

// One socket of the current view, read without building its record. A
// record carried over from the base into a delta is `extra_age_ms()` older
// than the base says: the tcp_info last_*_ms ages it reports include that
// (re-aged, saturating; see ReAged()). Views a NodeSockets (or, built from
// a record, that record) which must outlive it and stay unchanged.
class SocketView {
 public:
  SocketView() = default;
  // A view of a record held elsewhere. `fingerprint`: SocketFingerprint of
  // its key, or 0 (not computed; fingerprint() computes it).
  SocketView(const v1::SocketRecord* record, uint32_t extra_age_ms,
             uint64_t fingerprint = 0)
      : record_(record),
        extra_age_ms_(extra_age_ms),
        fingerprint_(fingerprint) {}
  SocketView(const SocketBatch* batch, const CompactSocket* socket,
             uint32_t extra_age_ms)
      : batch_(batch),
        socket_(socket),
        extra_age_ms_(extra_age_ms),
        fingerprint_(socket->fingerprint) {
    if (socket->flags & CompactSocket::kSpilled) {
      record_ = &batch->spilled[socket->owner];
    }
  }

  uint32_t extra_age_ms() const { return extra_age_ms_; }
  uint64_t fingerprint() const {
    return fingerprint_ != 0 ? fingerprint_ : SocketFingerprint(key());
  }
  SocketKeyView key() const {
    if (record_ != nullptr) return SocketKeyView::Of(*record_);
    return {batch_->owners[socket_->owner].netns_inode,
            Text(socket_->local_ip),
            socket_->local_port,
            Text(socket_->remote_ip),
            socket_->remote_port,
            socket_->inode,
            SocketKeyView::Normalized(
                static_cast<v1::Protocol>(socket_->protocol))};
  }

  uint64_t netns_inode() const {
    return record_ ? record_->netns_inode()
                   : batch_->owners[socket_->owner].netns_inode;
  }
  uint64_t inode() const { return record_ ? record_->inode() : socket_->inode; }
  absl::string_view local_ip() const {
    return record_ ? absl::string_view(record_->local_ip())
                   : Text(socket_->local_ip);
  }
  absl::string_view remote_ip() const {
    return record_ ? absl::string_view(record_->remote_ip())
                   : Text(socket_->remote_ip);
  }
  uint32_t remote_port() const {
    return record_ ? record_->remote_port() : socket_->remote_port;
  }
  absl::string_view backend_ip() const {
    return record_ ? absl::string_view(record_->backend_ip())
                   : Text(socket_->backend_ip);
  }
  v1::Protocol protocol() const {
    return record_ ? record_->protocol()
                   : static_cast<v1::Protocol>(socket_->protocol);
  }
  v1::TcpState state() const {
    return record_ ? record_->state()
                   : static_cast<v1::TcpState>(socket_->state);
  }
  uint32_t send_queue() const {
    return record_ ? record_->send_queue() : socket_->send_queue;
  }
  bool has_tcp_info() const {
    return record_ ? record_->has_tcp_info()
                   : (socket_->flags & CompactSocket::kHasTcpInfo) != 0;
  }
  // tcp_info fields (0 without tcp_info), as the record says: the ages
  // are not re-aged (add extra_age_ms()).
  uint64_t bytes_acked() const {
    return record_ ? record_->tcp_info().bytes_acked() : socket_->bytes_acked;
  }
  uint32_t unacked() const {
    return record_ ? record_->tcp_info().unacked() : socket_->unacked;
  }
  uint32_t backoff() const {
    return record_ ? record_->tcp_info().backoff() : socket_->backoff;
  }
  uint32_t last_data_recv_ms() const {
    return record_ ? record_->tcp_info().last_data_recv_ms()
                   : socket_->last_data_recv_ms;
  }
  uint32_t last_ack_recv_ms() const {
    return record_ ? record_->tcp_info().last_ack_recv_ms()
                   : socket_->last_ack_recv_ms;
  }

  // The record, re-aged, as the agent would have sent it.
  v1::SocketRecord ToRecord() const;

 private:
  absl::string_view Text(uint32_t id) const { return batch_->strings.Get(id); }

  // Set for a record held whole (built from one, or spilled); else the
  // compact socket and its batch.
  const v1::SocketRecord* record_ = nullptr;
  const SocketBatch* batch_ = nullptr;
  const CompactSocket* socket_ = nullptr;
  uint32_t extra_age_ms_ = 0;
  uint64_t fingerprint_ = 0;
};

// `view`'s record re-aged: tcp_info last_data_recv_ms, last_ack_recv_ms and
// last_data_sent_ms plus extra_age_ms(), saturating. view.ToRecord().
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
// Records are kept compact (CompactSocket) and built again only on demand
// (SocketView::ToRecord: queries, findings); the snapshot's other fields
// (namespaces, stats, times) are kept as received.
//
// Not thread-safe: the Engine holds the node's lock.
class NodeSockets {
 public:
  // A validated snapshot made ready to apply to the NodeSockets that
  // prepared it: deduplicated, compacted, and the view it would make
  // measured, with nothing changed yet. Lets the caller check limits on the
  // result and refuse it whole. Valid until that NodeSockets next changes.
  class Prepared {
   public:
    // Sockets in the view once applied.
    size_t view_size() const { return view_size_; }
    // held_bytes() once applied.
    size_t held_bytes() const { return held_bytes_; }

   private:
    friend class NodeSockets;
    Prepared() = default;

    // The snapshot without its sockets (and removed keys).
    std::unique_ptr<v1::SocketSnapshot> snapshot_;
    bool full_ = false;
    SocketBatch batch_;
    // Full snapshots only: batch_ indexes in fingerprint order.
    std::vector<uint32_t> order_;
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
  // stats. Its `sockets` and `removed` are empty: the view is ForEach's.
  // Requires has_base().
  const v1::NodeSnapshot& latest() const {
    return delta_ ? delta_->snapshot() : base_->snapshot();
  }
  uint64_t latest_snapshot_id() const {
    return delta_ ? delta_->snapshot_id() : base_snapshot_id();
  }
  // Number of sockets in the current view.
  size_t size() const { return size_; }
  // What the view costs to keep, in bytes: the compact sockets, their
  // strings and owners, the key index and the delta's hidden keys counted
  // by element size (SocketBatch::Bytes; a hash set entry as 16), records
  // kept whole by SpaceUsedLong, and the snapshots' other fields by their
  // serialized size. Allocator slack and container capacity are left out
  // (resident memory is ~10-20% more); the count is for budgets (Engine's
  // max_socket_bytes) and the same on every build.
  size_t held_bytes() const { return base_bytes_ + delta_bytes_; }

  // Calls fn(const SocketView&) for every socket of the current view: base
  // records first (in snapshot order), then the delta's.
  template <typename Fn>
  void ForEach(Fn fn) const {
    if (base_ == nullptr) return;
    for (const CompactSocket& socket : base_batch_.sockets) {
      if (!hidden_.empty() && hidden_.contains(socket.fingerprint)) continue;
      fn(SocketView(&base_batch_, &socket, delta_age_ms_));
    }
    if (delta_ == nullptr) return;
    for (const CompactSocket& socket : delta_batch_.sockets) {
      fn(SocketView(&delta_batch_, &socket, 0));
    }
  }

 private:
  // Whether the base holds a socket with this key fingerprint.
  bool BaseHas(uint64_t fingerprint) const;

  std::unique_ptr<v1::SocketSnapshot> base_;
  SocketBatch base_batch_;
  std::vector<uint32_t> base_order_;
  std::unique_ptr<v1::SocketSnapshot> delta_;
  SocketBatch delta_batch_;
  // Fingerprints of base keys the delta removes or replaces.
  absl::flat_hash_set<uint64_t> hidden_;
  uint32_t delta_age_ms_ = 0;
  size_t size_ = 0;
  size_t base_bytes_ = 0;
  size_t delta_bytes_ = 0;
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_SOCKET_STATE_H_
