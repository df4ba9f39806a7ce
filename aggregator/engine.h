// The aggregator's core: validates what agents send, keeps the cluster's
// address history (durably) and every node's current sockets, runs the
// detector at each snapshot, and tracks findings through their lifecycle.
// The gRPC services (ingest_service.h, query_service.h) are thin layers over
// this class.
#ifndef GHOSTPEER_AGGREGATOR_ENGINE_H_
#define GHOSTPEER_AGGREGATOR_ENGINE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/address_history.h"
#include "aggregator/detector.h"
#include "aggregator/findings.h"
#include "aggregator/node_loss.h"
#include "aggregator/store_health.h"
#include "aggregator/validation.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator {

class HistoryStore;
struct CommittedChanges;
struct NodePresence;
struct NodeState;
struct StoredFinding;

// Bounds on what agents can make the Engine hold: a message that would
// cross one is refused whole with ResourceExhausted naming the limit and its
// aggregator flag, the node keeps its previous state, and the refusal is
// counted (EngineCounters::messages_over_limit). The defaults leave a
// 5,000-node cluster of 2,000 sockets each far inside every bound while one
// hostile client cannot grow memory without end.
struct IngestLimits {
  // Nodes known at once (--max-nodes). A node that said hello and never
  // sent a snapshot is forgotten after node_stale_after and stops counting;
  // nodes that reported are never evicted to make room: the newcomer is
  // refused. Nodes loaded from the store at startup are not refused.
  size_t max_nodes = 10000;
  // Sockets in one node's current view (--max-sockets-per-node): the base
  // full snapshot with the delta on top. ValidationLimits bounds one message.
  size_t max_sockets_per_node = 250000;
  // Socket state of all nodes together (--max-socket-bytes), counted as
  // NodeSockets::held_bytes(): what each node's socket view costs in
  // memory (compact records, their strings, the key index; allocator slack
  // aside). A typical socket counts ~160 bytes and takes ~190 of heap, and
  // the detector's memory of it ~160 more, not counted here (scale_bench):
  // 5,000 nodes x 2,000 sockets hold ~1.6 GB by this count, ~3.6 GB of
  // heap in all.
  uint64_t max_socket_bytes = uint64_t{8} << 30;
};

// Indexes EngineCounters::messages_over_limit.
enum class IngestLimit { kMaxNodes, kMaxSocketsPerNode, kMaxSocketBytes };
inline constexpr size_t kIngestLimitCount = 3;
// "max_nodes", "max_sockets_per_node", "max_socket_bytes".
const char* IngestLimitName(IngestLimit limit);

struct EngineOptions {
  // Where history is stored (history_store.h OpenHistoryStore): a SQLite
  // database file; ":memory:" keeps nothing across restarts (tests).
  std::string db_path = "ghostpeer.db";
  // Ended ownership intervals and resolved findings older than this are
  // purged; history queries before it answer OUT_OF_RANGE.
  absl::Duration retention = absl::Hours(24 * 7);
  // A node silent this long is stale: its socket view is dropped (queries
  // stop showing sockets nobody vouches for), its findings stay OPEN — there
  // is no evidence the sockets went away — and resolve or update when it
  // reports again. A node silent for `retention` is forgotten and its open
  // findings resolve. A node that said hello this long ago and never sent a
  // snapshot is forgotten, streams open or not (see IngestLimits).
  absl::Duration node_stale_after = absl::Minutes(5);
  // Not owned; must outlive the Engine.
  const Clock* clock = Clock::Real();
  ValidationLimits limits;
  IngestLimits ingest_limits;
  DetectorOptions detector;
  // When a node counts as lost (node_loss.h): the managers mark it down and
  // its agent is silent this long. Its open intervals then close, NODE_LOST.
  NodeLossOptions node_loss;
  // ListSockets answers at most this many records (request.limit lower).
  uint32_t max_list_sockets = 10000;
  // This aggregator among the replicas sharing a PostgreSQL store (issue
  // 12): it names the replica in the node presence table and in ListNodes
  // (NodeStatus.served_by). main sets --advertise-address, by default
  // --listen's host:port. Unused with a store nobody else writes.
  std::string replica_name;
};

// Fixed-bucket histogram of durations over the upper bounds `Bounds`
// (seconds, ascending; Prometheus-style, non-cumulative counts; the last
// bucket is +Inf).
template <const auto& Bounds>
struct DurationHistogram {
  static constexpr const auto& kBoundsSeconds = Bounds;
  std::array<uint64_t, std::tuple_size_v<std::decay_t<decltype(Bounds)>> + 1>
      buckets{};
  uint64_t count = 0;
  double sum_seconds = 0;

  void Observe(absl::Duration duration) {
    const double seconds = absl::ToDoubleSeconds(duration);
    size_t bucket = 0;
    while (bucket < Bounds.size() && seconds > Bounds[bucket]) ++bucket;
    ++buckets[bucket];
    ++count;
    sum_seconds += seconds;
  }
};

// Work the aggregator does: half a millisecond to seconds.
inline constexpr std::array<double, 12> kLatencyBoundsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
using LatencyHistogram = DurationHistogram<kLatencyBoundsSeconds>;

// From a server's departure to its ghost's finding: paced by the agents'
// interval (5 s), one-second steps around it. The target (issue 9) is
// 10 s.
inline constexpr std::array<double, 16> kDepartureBoundsSeconds = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12.5, 15, 20, 30, 60, 300};
using DepartureHistogram = DurationHistogram<kDepartureBoundsSeconds>;

// What came of remediation decisions, for
// ghostpeer_remediations_total{outcome,mode} (issue 11): the agent's
// answers (destroyed, already_gone, refused, failed, would_destroy: its
// re-check passed in a dry run) and the aggregator's own verdicts
// (would_destroy: dry-run decision; declined: a guard said no;
// rate_limited). An order still unanswered has no outcome yet.
enum class RemediationMetric {
  kDestroyed,
  kAlreadyGone,
  kRefused,
  kFailed,
  kWouldDestroy,
  kDeclined,
  kRateLimited,
};
inline constexpr size_t kRemediationMetricCount = 7;
// "destroyed", "already_gone", ... as the label value.
const char* RemediationMetricName(RemediationMetric metric);

// What the remediation policy needs to know of a node (Engine::NodeFacts).
struct NodeReportFacts {
  bool known = false;      // an agent said hello or reported
  bool connected = false;  // a stream of it is open now
  // From the latest Hello (Hello.remediation_enabled / _refusal).
  bool remediation_enabled = false;
  std::string remediation_refusal;
  // When its latest snapshot arrived (aggregator clock); InfinitePast: never.
  absl::Time last_report = absl::InfinitePast();
  // The spacing of its latest two snapshots by their own times (the agent's
  // --interval as it really is); zero until two arrived from one agent
  // process.
  absl::Duration report_interval = absl::ZeroDuration();
};

// A copy of the Engine's counters for metrics (issue 5). Arrays are indexed
// by the proto enum's number (index 0, UNSPECIFIED, stays 0).
struct EngineCounters {
  // Socket records carried by accepted snapshots (a delta counts the
  // records it carried, not the node's size).
  uint64_t socket_records_ingested = 0;
  uint64_t full_snapshots = 0;
  uint64_t delta_snapshots = 0;
  // Deltas dropped because their base was unknown (agent told to send full).
  uint64_t full_snapshots_required = 0;
  // Address events stored, by v1::AddressEventSource.
  std::array<uint64_t, 4> address_events_by_source{};
  // Replayed events (seq <= stored) acknowledged without being re-applied.
  uint64_t address_events_replayed = 0;
  // Messages refused with InvalidArgument.
  uint64_t messages_rejected = 0;
  // RemediationOutcomes agents sent back, by v1::RemediationOutcomeKind.
  std::array<uint64_t, 6> remediation_outcomes_received{};
  // Remediation decisions and outcomes, by RemediationMetric and by the
  // v1::RemediationMode that applied.
  std::array<std::array<uint64_t, 4>, kRemediationMetricCount> remediations{};
  // Messages refused with ResourceExhausted, by IngestLimit.
  std::array<uint64_t, kIngestLimitCount> messages_over_limit{};
  // Store writes that failed (address batches answered with an error, or
  // findings kept in memory only until the next snapshot re-saves them).
  uint64_t store_errors = 0;
  // Finding transitions, by v1::FindingKind.
  std::array<uint64_t, 4> findings_opened_by_kind{};
  std::array<uint64_t, 4> findings_resolved_by_kind{};
  // IngestSnapshot wall time (validation to ack) and its detection part.
  LatencyHistogram ingest_latency;
  LatencyHistogram detection_latency;
  // For each VANISHED_PEER or REASSIGNED_PEER finding opened: from the
  // departure of the peer's last owner (its interval's end, as the
  // reporting node dated it) to the finding's first_seen (this
  // aggregator's clock; negative differences count as 0). Findings of
  // connections first seen long after the departure count too: it measures
  // what users wait, not what the detector could do.
  DepartureHistogram departure_to_finding;
  // Gauges at the time of the copy.
  uint32_t agents_connected = 0;
  uint32_t nodes_known = 0;
  uint64_t history_intervals = 0;
  uint64_t history_addresses = 0;
  // Socket state held, as counted against IngestLimits::max_socket_bytes.
  uint64_t socket_bytes_held = 0;
};

// Thread-safe. Every method may be called from any thread concurrently;
// snapshots of different nodes are ingested in parallel (one lock per
// node), address batches are serialised (one history). Lock order:
// node-loss check -> node -> history -> store; listeners are called with the
// node's lock held (so a node's events arrive in order) and must not call back
// into the Engine.
class Engine {
 public:
  // Opens (creating or migrating) the store at options.db_path and loads
  // the retained history, agent seqs and findings. Errors from
  // OpenHistoryStore and HistoryStore::Load (DataLoss for a corrupt file,
  // FailedPrecondition for an unwritable one or a newer schema, ...), with
  // the path in the message. InvalidArgument for a non-positive retention
  // or a null clock.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(EngineOptions options);
  // The same over a store the caller opened (options.db_path unused).
  // InvalidArgument for a null store as well.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(
      EngineOptions options, std::unique_ptr<HistoryStore> store);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A stream said Hello. Validates it (InvalidArgument), admits the node
  // (ResourceExhausted past max_nodes), marks it connected (until the
  // matching Disconnected) and returns the last address seq stored for
  // (node, agent_instance), 0 if none.
  absl::StatusOr<uint64_t> Hello(const v1::Hello& hello);

  // Counts in messages_rejected a message refused before it could reach the
  // Engine (the service could not parse it).
  void CountRejectedMessage();

  // Counts a (validated) RemediationOutcome an agent sent back. Storing
  // outcomes comes with the aggregator's remediation policy (issue 11).
  void CountRemediationOutcome(v1::RemediationOutcomeKind kind);

  // Counts a remediation decision or outcome (the coordinator's).
  void CountRemediation(RemediationMetric metric, v1::RemediationMode mode);

  // What remediation needs to know of `node` (known false when the Engine
  // does not know it).
  NodeReportFacts NodeFacts(const std::string& node) const;

  // The raw ghostpeer.remediation label of `service` from the latest
  // manager's report (NodeSnapshot.service_remediation); empty when none.
  std::string ServiceRemediationLabel(const std::string& service) const;

  // The finding with this id, open or resolved; nullopt when none.
  std::optional<v1::Finding> FindFinding(const std::string& id) const;

  // Sets the finding's one-line remediation summary (Finding.remediation),
  // stores it and, while the finding is open, announces it UPDATED
  // (alerts, webhooks and watchers hear what was done); a resolved
  // finding keeps it silently. Nothing happens when the summary is
  // unchanged. NotFound when `node` has no finding `id`. Later snapshots
  // keep the summary until the finding resolves and a new episode starts.
  absl::Status SetFindingRemediation(const std::string& node,
                                     const std::string& id,
                                     const std::string& summary);

  // Validates every event first (InvalidArgument naming the bad field;
  // nothing of a bad batch is stored), skips events whose seq is <= the
  // stored seq for (node, agent_instance) (replays after a reconnect), then
  // applies the rest to the history and stores them with the new seq in one
  // transaction. Returns the highest seq stored for (node, agent_instance):
  // the ack. A store error (Unavailable, ResourceExhausted, ...) leaves
  // memory and disk as before the call.
  absl::StatusOr<uint64_t> IngestAddressEvents(
      const std::string& node, const std::string& agent_instance,
      const v1::AddressEventBatch& batch);

  // Validates (InvalidArgument) and applies a full or delta snapshot, runs
  // the detector for the node and updates its findings (listeners hear the
  // changes). A delta whose base is not the node's current full snapshot of
  // this agent instance is dropped and answered with
  // full_snapshot_required. A snapshot that would take the node past
  // max_sockets_per_node or all nodes past max_socket_bytes, or a new node
  // past max_nodes, is ResourceExhausted and changes nothing; Unavailable
  // if Tick forgot the node while the call waited for it (reconnect).
  // `received_at` is the aggregator's receive time:
  // lag, finding lifecycle times. The ack names the snapshot, the full
  // snapshot deltas may use, and the stored address seq. The rvalue overload
  // saves a copy of the snapshot.
  absl::StatusOr<v1::Ack> IngestSnapshot(const std::string& node,
                                         const std::string& agent_instance,
                                         const v1::SocketSnapshot& snapshot,
                                         absl::Time received_at);
  absl::StatusOr<v1::Ack> IngestSnapshot(const std::string& node,
                                         const std::string& agent_instance,
                                         v1::SocketSnapshot&& snapshot,
                                         absl::Time received_at);

  // One stream of `node` ended (after a successful Hello). The node stays
  // known; it shows as disconnected once all its streams ended.
  void Disconnected(const std::string& node, const std::string& agent_instance);

  // Findings matching the request's filters (node, service of the client
  // socket, kind, minimum severity, status), open first, then by severity
  // (highest first), first_seen and id.
  v1::ListFindingsResponse ListFindings(
      const v1::ListFindingsRequest& request) const;

  // Current sockets (re-aged) matching remote_ip (any IP form), state and
  // node, by node name then snapshot order; at most request.limit (0: the
  // default max_list_sockets), `truncated` when more matched.
  v1::ListSocketsResponse ListSockets(
      const v1::ListSocketsRequest& request) const;
  // The most records ListSockets answers `request` with.
  uint32_t ListSocketsLimit(const v1::ListSocketsRequest& request) const;

  // Every retained interval of the address (oldest first), or those
  // covering `at`; with `node`, only those a client on that node reaches
  // (ReachableFrom, address_history.h). InvalidArgument for an address that
  // does not parse, OutOfRange ("history retained since <t>") when `at` is
  // before the retained horizon: max(database creation, now - retention).
  absl::StatusOr<v1::GetAddressHistoryResponse> GetAddressHistory(
      const v1::GetAddressHistoryRequest& request) const;

  // Every known node, by name: those whose agent said hello or reported,
  // and those only the managers' view names (a node without an agent),
  // each with the managers' view of it when a manager's agent reported one,
  // and whether it was lost.
  v1::ListNodesResponse ListNodes() const;

  // Finding changes (OPENED/UPDATED/CLOSED) as they happen. The listener
  // runs on the ingesting thread, must be quick and must not call into the
  // Engine; it may run once more shortly after Unsubscribe returns.
  using FindingListener = std::function<void(const v1::FindingEvent&)>;
  int Subscribe(FindingListener listener);
  void Unsubscribe(int id);

  // Housekeeping; call every few seconds: purges history, findings and
  // agent seqs past retention (memory and disk), drops the socket views of
  // stale nodes, forgets nodes silent for `retention` (resolving their
  // findings) and nodes that said hello `node_stale_after` ago without ever
  // reporting, and closes the intervals of nodes lost since the last check
  // (node_loss.h: an agent's silence grows with time alone). Returns the
  // store's error, if any; memory is purged anyway.
  absl::Status Tick();

  // Shared stores only (HistoryStore::shared; call about every second,
  // --replica-poll-interval): merges what other replicas committed — history
  // intervals and agent seqs into memory, findings of nodes not served here
  // silently (no listener hears them: the serving replica announced them),
  // node presence — then stores the presence of the nodes served here (at
  // most every few seconds each) and re-saves findings a failed write kept
  // in memory only. Returns the store's error (StoreReadable reports it
  // until a catch-up succeeds); OK, nothing done, with any other store.
  absl::Status CatchUp();

  // OK, or Unavailable ("history store <location> unreachable since <t>:
  // <error>") while the latest CatchUp failed: a replica that cannot read the
  // shared store answers for a part of the cluster only, so queries refuse
  // rather than mislead. Always OK with a store nobody else writes.
  absl::Status StoreReadable() const;

  EngineCounters Counters() const;

  // OK while the store's latest writes succeeded; Unavailable with the
  // error and since when otherwise (store_health.h says which writes
  // count). Readiness and the Ingest service's gRPC health follow it.
  absl::Status StoreWritable() const { return store_health_.Writable(); }

 private:
  Engine(EngineOptions options, std::unique_ptr<HistoryStore> store);
  absl::Status Load();
  // For Load: what the store holds is not refused.
  std::shared_ptr<NodeState> GetOrCreateNode(const std::string& node);
  // The node's state, created if new and max_nodes allows it (else
  // ResourceExhausted). The caller locks it and checks `forgotten`.
  absl::StatusOr<std::shared_ptr<NodeState>> AdmitNode(const std::string& node,
                                                       absl::Time now);
  // Counts a refusal and returns ResourceExhausted with `message`.
  absl::Status OverLimit(IngestLimit limit, const std::string& message);
  // Moves the node's share of socket_bytes_held_ from `from` to `to` bytes.
  // ResourceExhausted, changing nothing, when that would cross
  // max_socket_bytes; shrinking always succeeds.
  absl::Status ResizeSocketBytes(const std::string& node, size_t from,
                                 size_t to);
  // Clears the node's socket view and releases its bytes.
  // Requires state.mu held.
  void DropSockets(NodeState& state);
  std::shared_ptr<NodeState> FindNode(const std::string& node) const;
  std::vector<std::shared_ptr<NodeState>> AllNodes() const;
  // Persists and announces `changes` of `state`'s findings.
  // Requires state.mu held.
  void Publish(NodeState& state, const std::vector<FindingChange>& changes);
  // Replaces the managers' view with `nodes`, as `reporter`'s agent sent
  // it at `received_at` (the managers share one view; the latest report
  // speaks for them). Loss marks of nodes still listed are kept.
  void UpdateSwarmView(
      const std::string& reporter,
      const google::protobuf::RepeatedPtrField<v1::SwarmNode>& nodes,
      absl::Time received_at);
  // Replaces the services' remediation labels with a manager's latest.
  void UpdateServiceRemediation(
      const google::protobuf::Map<std::string, std::string>& labels);
  // Closes, NODE_LOST, the open intervals of every node NodeLostAt says is
  // lost, unless nothing changed since it last did (the node's agent spoke
  // again, or history moved). Takes node locks, then history: call with no
  // lock held.
  void CheckNodeLoss(absl::Time now);
  uint64_t StoredSeq(const std::string& node,
                     const std::string& agent_instance) const;
  // CatchUp, unless one started after `seen` (catch_ups_started_ as the
  // caller read it) has completed meanwhile: then its outcome.
  absl::Status CatchUpAfter(std::optional<uint64_t> seen);
  // Takes in other replicas' committed intervals and agent seqs.
  void MergeHistoryLocked(CommittedChanges& committed, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(history_mu_);
  // Takes in findings of nodes no stream of this replica serves, silently.
  void MergeFindings(std::vector<StoredFinding> findings, absl::Time now);
  // Takes in other replicas' presence rows.
  void MergePresence(std::vector<NodePresence> presence, absl::Time now);
  // Replaces the node's detector memory with the one stored with its open
  // findings, as at a restart: another replica served it meanwhile. Call
  // with no lock held.
  void RestoreMemory(NodeState& state);
  // Stores the presence of nodes served here not written for
  // kPresenceRefresh (best effort: the next refresh retries).
  void RefreshPresence(absl::Time now);
  void WritePresence(const std::vector<NodePresence>& rows, absl::Time now);
  // Saves every finding of the nodes served here (after a failed save).
  void ResaveFindings(absl::Time now);
  // Whether other replicas write the store (HistoryStore::shared).
  bool shared() const;
  absl::Time RetainedSince(absl::Time now) const;

  const EngineOptions options_;
  const std::unique_ptr<HistoryStore> store_;
  StoreHealth store_health_;

  // Serialises CatchUp; taken before history_mu_ and node locks.
  absl::Mutex catch_up_mu_;
  // Catch-ups begun (under catch_up_mu_; read without it by Hello).
  std::atomic<uint64_t> catch_ups_started_{0};
  // The latest CatchUp's failure (OK: it succeeded) and since when.
  mutable absl::Mutex readable_mu_;
  absl::Status unreadable_ ABSL_GUARDED_BY(readable_mu_);
  absl::Time unreadable_since_ ABSL_GUARDED_BY(readable_mu_);
  // A findings save failed: CatchUp re-saves once the store answers.
  std::atomic<bool> findings_unsaved_{false};

  mutable absl::Mutex history_mu_;
  AddressHistory history_ ABSL_GUARDED_BY(history_mu_);
  struct SeqState {
    uint64_t seq = 0;
    absl::Time updated;
  };
  absl::flat_hash_map<std::pair<std::string, std::string>, SeqState> seqs_
      ABSL_GUARDED_BY(history_mu_);

  // The swarm's nodes as the managers last reported them, by the name
  // their agents report as (the hostname; the node id without one).
  struct SwarmNodeEntry {
    ManagersView view;
    // Its intervals were closed as lost, at lost_at; closed_contact is the
    // agent's last contact then, closed_generation the history's after it.
    bool lost = false;
    absl::Time lost_at;
    absl::Time closed_contact;
    uint64_t closed_generation = 0;
  };
  mutable absl::Mutex swarm_mu_;  // a leaf: taken with no other lock after it
  absl::btree_map<std::string, SwarmNodeEntry> swarm_nodes_
      ABSL_GUARDED_BY(swarm_mu_);
  // Services' ghostpeer.remediation labels, from the latest manager's
  // report (filtered: bounded count and length).
  absl::flat_hash_map<std::string, std::string> service_remediation_
      ABSL_GUARDED_BY(swarm_mu_);
  // Serialises CheckNodeLoss; taken before any node lock.
  absl::Mutex node_loss_mu_;
  // When this Engine started: a node no agent spoke for is silent since.
  absl::Time started_at_;

  mutable absl::Mutex nodes_mu_;
  absl::btree_map<std::string, std::shared_ptr<NodeState>> nodes_
      ABSL_GUARDED_BY(nodes_mu_);

  // Taken after a node's lock, never before.
  mutable absl::Mutex socket_bytes_mu_;
  uint64_t socket_bytes_held_ ABSL_GUARDED_BY(socket_bytes_mu_) = 0;

  mutable absl::Mutex listeners_mu_;
  std::map<int, std::shared_ptr<const FindingListener>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
  int next_listener_id_ ABSL_GUARDED_BY(listeners_mu_) = 1;

  mutable absl::Mutex counters_mu_;
  EngineCounters counters_ ABSL_GUARDED_BY(counters_mu_);
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_ENGINE_H_
