// The detector: one node's sockets + the cluster's address history in,
// findings out. Pure and deterministic (no clock, no I/O, output sorted by
// finding id); the only state it keeps is the per-connection memory the
// caller passes back in at the next snapshot.
#ifndef GHOSTPEER_AGGREGATOR_DETECTOR_H_
#define GHOSTPEER_AGGREGATOR_DETECTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "aggregator/address_history.h"
#include "aggregator/socket_state.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

// What the detector remembers about one connection between snapshots.
struct SocketMemory {
  // Aggregator time of the first snapshot that showed the connection.
  absl::Time first_seen = absl::InfinitePast();
  // AddressHistory::next_id() then: intervals with ids >= this were recorded
  // after the connection was first seen.
  IntervalId history_mark = 0;
  // Who held the remote address then (empty: nobody).
  absl::InlinedVector<OwnerId, 2> first_holders;
  // Bytes the application had written (bytes_acked + send_queue) at the
  // previous snapshot; has_written says whether there was one.
  uint64_t written = 0;
  // First snapshot in CLOSE_WAIT (the peer's FIN, fin_seen): written and
  // acked then.
  uint64_t written_at_fin = 0;
  uint64_t acked_at_fin = 0;
  // Sweep marker: the ConnectionMemory generation that last saw it.
  uint64_t generation = 0;
  // Consecutive snapshots (up to now) whose evidence made a vanished or a
  // reassigned peer; see DetectorOptions::confirmations.
  uint32_t vanished_streak = 0;
  uint32_t reassigned_streak = 0;
  // Beside the streaks, where they pack (one connection each: 10 million
  // on a large cluster).
  bool has_written = false;
  bool fin_seen = false;
  // The address judged (rule 7): the backend of a translated socket, else
  // its remote address. Empty in memory persisted before the field.
  std::string target;
};

// The memory of one node's connections, owned by the caller between calls,
// by SocketFingerprint of the socket's key. A node map: entries are
// allocated one by one, so a table with room to grow costs a pointer per
// free slot instead of a SocketMemory (flat: ~300 bytes per connection at
// 2,000 per node, node: ~160; scale_bench).
struct ConnectionMemory {
  absl::node_hash_map<uint64_t, SocketMemory> sockets;
  uint64_t generation = 0;
};

// Persisted form of a SocketMemory (owners by identity key, since OwnerIds
// are per process). Decode interns the owners into `history`; DataLoss on a
// malformed string.
std::string EncodeMemory(const SocketMemory& memory,
                         const AddressHistory& history);
absl::StatusOr<SocketMemory> DecodeMemory(absl::string_view encoded,
                                          AddressHistory* history);

// A stable finding id: 16 hex digits of a 64-bit FNV-1a over node and the
// socket key (its protocol only when UDP, so TCP ids are what they were
// before UDP support). A socket has at most one finding, whatever its kind,
// so the id is the socket's: the same in every process, and kept when the
// kind changes (a close-wait writer found to write to a vanished peer).
// Builds before that hashed the kind too; ReconcileFindings (findings.h)
// keeps their open findings' ids.
std::string FindingId(absl::string_view node, const SocketKeyView& key);

struct DetectorOptions {
  // Times from different nodes' clocks (a snapshot's tcp_info ages against
  // another node's interval bounds) are compared only with this much slack:
  // it absorbs clock skew between nodes and observation lag (an address
  // observed at a snapshot is stamped up to one interval late).
  absl::Duration evidence_margin = absl::Seconds(30);
  // Consecutive snapshots of the client that must show a vanished or
  // reassigned peer before it is a finding. One snapshot's worth of absence
  // can be a gap in a reading (a namespace skipped, an owner described two
  // ways); a ghost stays. 1: at once.
  int confirmations = 2;
  // A departure an event reported (EndEvidence::kDeparture: Docker's die,
  // destroy or disconnect; the tasks API's ended task) is no gap in a
  // reading. Its ghost is therefore raised at the first snapshot of the
  // client that proves the connection outlived it, without waiting for
  // `confirmations` (rule 6 below). false: every finding waits.
  bool fast_departures = true;
  // How much later than a reported departure (another node's clock) a
  // client snapshot must be taken, and how much later the peer may have
  // last been heard, for rule 6. It absorbs clock skew between the two
  // nodes and the moment a dying peer's FIN or reset needs to arrive. With
  // the agents' 5 s interval the first counting snapshot comes at most
  // interval + departure_skew after the departure.
  absl::Duration departure_skew = absl::Seconds(2);
};

struct DetectionInput {
  absl::string_view node;
  // The aggregator's time of this snapshot (memory first_seen).
  absl::Time now;
  // The snapshot's own time (the agent's clock): tcp_info ages count back
  // from it.
  absl::Time taken_at;
  absl::Span<const SocketView> sockets;
  // The node's namespaces (addresses each holds) from the same snapshot;
  // null for none.
  const google::protobuf::RepeatedPtrField<v1::NamespaceInfo>* namespaces =
      nullptr;
};

// A finding as this snapshot shows it (status OPEN; first_seen, last_seen
// and resolved_at are the lifecycle's, left unset), with the memory to
// persist alongside it.
struct DetectedFinding {
  v1::Finding finding;
  std::string memory;  // EncodeMemory of the connection
};

// The rules, per socket (docs/DESIGN.md "Aggregator"; issue 3):
//
// 0. Only connections that can still lose data are judged: ESTABLISHED,
//    CLOSE_WAIT, FIN_WAIT1, LAST_ACK and CLOSING. Never a finding for
//    LISTEN, SYN_*, TIME_WAIT, CLOSE, FIN_WAIT2 (our FIN was acked: nothing
//    left to send); for a loopback or unspecified peer; for a peer address
//    the client's own namespace holds; for an address nobody in the retained
//    history ever held (outside services); or for an address that ever was a
//    swarm VIP (the kernel's IPVS answers for those) unless the socket says
//    where the VIP sends it (rule 7). Nor for an orphan (no
//    socket inode: the application closed it and is gone; the kernel's last
//    retransmissions of a LAST_ACK or FIN_WAIT1 socket leave nobody to tell
//    and nothing to fix), so a finding resolves when its client goes away.
//    The remote address is resolved in the scope the client can reach
//    (ReachableFrom, address_history.h): its cluster-wide holdings, and
//    node-local ones only of the client's own node (input.node). Another
//    node's 172.18.0.3 is another address: it neither keeps the client's
//    peer "held" nor makes one "vanished". "Held", "holders" and "owners"
//    below are all over the reachable intervals.
// 1. Memory. First sight records first_seen, the history mark and the
//    current holders. "Wrote" means the application's written byte count,
//    W = tcp_info.bytes_acked + send_queue (= write_seq - ISN), grew since
//    the previous snapshot; without tcp_info, send_queue grew. bytes_sent is
//    not used: it counts retransmissions, which a dead peer causes without
//    the application writing anything. The first snapshot in CLOSE_WAIT
//    records W and bytes_acked as the FIN baseline.
// 2. bytes_at_risk = send_queue + (bytes_acked - acked_at_fin when the FIN
//    was seen). send_queue is everything written and not acknowledged;
//    the second term is what the peer's kernel acknowledged after its
//    application had closed — no application reads it. The two are disjoint,
//    so nothing counts twice. A connection first seen already in CLOSE_WAIT
//    starts its baseline there: earlier post-FIN writes that were acked are
//    not counted (the queue still is).
// 3. VANISHED_PEER: nobody holds the remote address now and someone did.
//    peer_last_owner is the interval that ended last. Not raised when the
//    peer demonstrably answered (tcp_info ACK or data) more than
//    evidence_margin after that owner left: then someone outside our history
//    answers for the address. CRITICAL when data waits (send_queue,
//    tcp_info.unacked or backoff > 0) or the application wrote since the
//    previous snapshot; WARNING otherwise (the next write will be lost).
// 4. REASSIGNED_PEER: someone holds the remote address now, but not the
//    owner the connection was made with. Evidence, strongest first:
//    (a) holders at first sight, none of whom holds it now;
//    (b) nobody held it at first sight, every current holding was recorded
//        after first sight, and the owner that held it last before first
//        sight is not among the current holders;
//    (c) tcp_info: the peer was last heard at T = taken_at - min(last ack,
//        last data age); an owner that is not a current holder held the
//        address at T (with evidence_margin to spare before it left) and no
//        current holder did (within the margin).
//    Holders match by owner identity, or by a shared container id (a task
//    seen by the tasks API and by its namespace is one container).
//    Flapping (the same owner leaving and coming back) is therefore not a
//    reassignment. CRITICAL when data waits, else WARNING.
// 3 and 4 are raised only once their evidence held in
//    options.confirmations consecutive snapshots of the client (counted in
//    the memory, which a persisted finding carries across restarts), or at
//    once under rule 6.
// 5. CLOSE_WAIT_WRITER: CLOSE_WAIT and W grew past the FIN baseline — the
//    application wrote after the peer closed — whoever holds the address.
//    WARNING. Only when neither 3 nor 4 is raised: a socket has at most one
//    finding, of the most specific kind. A vanished or reassigned peer
//    says more (who left, who holds it now) and its bytes_at_risk uses the
//    same formula; its story still says that the peer had closed. The id
//    is the socket's (FindingId), so a close-wait writer later confirmed
//    as a ghost keeps its id and changes kind (findings.h: previous_kind).
// 6. Reported departures (options.fast_departures). An open interval is
//    not a holding when an interval of the same container (non-empty id)
//    ended by kDeparture at or after its start: the tasks API and the
//    container's namespace describe one container, and Docker said it
//    died; the poll that will close the other view is only late. The
//    departure behind 3 (the interval that ended last) or 4 (the former
//    owner's) is reported when that interval, or such an interval of its
//    container, ended by kDeparture; its time D is the latest such end.
//    Then one snapshot raises the finding when all of these hold:
//    taken_at >= D + departure_skew; tcp_info present; data waiting
//    (send_queue, unacked or backoff > 0); and the peer last heard no
//    later than D + departure_skew. The guard this replaces — a second
//    snapshot — protects against a reading's gap, which a reported
//    departure cannot be; the conditions stand in for what the second
//    snapshot also showed: the connection is still there after the
//    departure, still holds data nobody acknowledged, and nobody answered
//    it since. Departures inferred from absence (kAbsence, or kUnknown
//    after a restart) keep `confirmations`.
// 7. Translated sockets (backend_ip set: the agent found the conntrack DNAT
//    or IPVS entry of this connection). Everything above is judged on the
//    backend address instead of the remote one: its holders, its scope, its
//    departures, the own-namespace and loopback checks; the remote address
//    (a VIP) may be a swarm VIP. The finding's vip_owner is who holds the
//    remote address as the client reaches it (the holder recorded last,
//    else the owner that held it last; absent for an address no owner
//    reports, a plain DNAT VIP); peer_last_owner / peer_current_owner are
//    the backend's. A socket's memory records the address it judged: when
//    the target changes (a translation appears, or names another backend),
//    first sight and the streaks start again, since the old target's
//    holders say nothing of the new one. A VIP socket with no translation
//    found stays unjudged (no evidence, no finding).
// 8. UDP (protocol PROTOCOL_UDP; UNSPECIFIED is TCP, from older agents).
//    Only a connected socket (a remote port, and a remote address that is
//    neither unspecified nor loopback) is judged, whatever state it
//    reports; directly or through a translation (rule 7), by rules 3 and 4
//    with these differences: always WARNING; bytes_at_risk 0 (nothing
//    acknowledges a datagram, so no count of lost bytes exists); no
//    tcp_info is read even if a record carries one, so the peer is never
//    "heard" (3's answered-since check and 4(c) do not apply) and rule 6
//    never fires: every UDP finding waits for `confirmations` consecutive
//    snapshots with its peer gone or reassigned. Rules 2 and 5 (CLOSE_WAIT)
//    are TCP's only.
//
// `memory` is updated (entries of sockets not in this snapshot are
// dropped). Findings are returned sorted by id.
std::vector<DetectedFinding> Detect(const DetectionInput& input,
                                    const AddressHistory& history,
                                    const DetectorOptions& options,
                                    ConnectionMemory* memory);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_DETECTOR_H_
