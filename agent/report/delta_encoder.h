// Encodes node snapshots as full snapshots or deltas for the ingest stream.
#ifndef GHOSTPEER_AGENT_REPORT_DELTA_ENCODER_H_
#define GHOSTPEER_AGENT_REPORT_DELTA_ENCODER_H_

#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

// The key a socket has within a node (see v1::SocketKey): its protocol is
// TCP or UDP, never UNSPECIFIED.
v1::SocketKey KeyOf(const v1::SocketRecord& record);
std::string KeyString(const v1::SocketKey& key);

// Decides, per snapshot, what to send: a full snapshot, or a delta against
// the last full snapshot the aggregator acknowledged.
//
// A socket goes into a delta when it is new or when anything but the
// ever-growing ages in tcp_info (last_data_recv_ms, last_ack_recv_ms,
// last_data_sent_ms) changed against the base; the aggregator re-ages those
// from the time between the two snapshots. Idle connections, the bulk of a
// node, then cost nothing after the first full snapshot.
//
// Pure and deterministic; not thread-safe.
class DeltaEncoder {
 public:
  // `full_every`: at most this many snapshots between two full ones (> 0).
  explicit DeltaEncoder(int full_every = 12);

  // Returns the message for `snapshot`, numbering snapshots from 1. Full when
  // no acknowledged base exists, when the last full one is `full_every` old,
  // or after RequireFull().
  v1::SocketSnapshot Encode(const v1::NodeSnapshot& snapshot);

  // Applies the aggregator's acknowledgement: an acknowledged full snapshot
  // that this encoder sent becomes the base for later deltas;
  // `full_snapshot_required` makes the next snapshot full.
  void Acknowledge(const v1::Ack& ack);

  // The stream was re-established: the aggregator may have lost state, so
  // send a full snapshot next and forget unacknowledged ones.
  void RequireFull();

  uint64_t base_snapshot_id() const { return base_id_; }

 private:
  struct BaseEntry {
    uint64_t fingerprint;
    v1::SocketKey key;
  };
  using Fingerprints = absl::flat_hash_map<std::string, BaseEntry>;
  struct SentFull {
    uint64_t id;
    Fingerprints fingerprints;
  };

  static Fingerprints FingerprintsOf(const v1::NodeSnapshot& snapshot);

  const int full_every_;
  uint64_t next_id_ = 1;
  bool full_required_ = true;
  int since_full_ = 0;
  uint64_t base_id_ = 0;
  Fingerprints base_;
  // Full snapshots sent and not yet acknowledged, oldest first (bounded).
  std::deque<SentFull> pending_full_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_REPORT_DELTA_ENCODER_H_
