#include "aggregator/engine.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregator/findings.h"
#include "aggregator/history_store.h"
#include "aggregator/ip_address.h"
#include "aggregator/socket_state.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace ghostpeer::aggregator {

// Everything the Engine knows about one node, under its own lock so nodes
// ingest in parallel.
struct NodeState {
  NodeState(std::string node_name, absl::Time created)
      : name(std::move(node_name)), last_contact(created) {}

  const std::string name;
  absl::Mutex mu;
  // From the latest Hello.
  std::string agent_instance ABSL_GUARDED_BY(mu);
  std::string agent_version ABSL_GUARDED_BY(mu);
  std::string kernel ABSL_GUARDED_BY(mu);
  bool remediation_enabled ABSL_GUARDED_BY(mu) = false;
  std::string remediation_refusal ABSL_GUARDED_BY(mu);
  int streams ABSL_GUARDED_BY(mu) = 0;
  // The current socket view and whose snapshots built it.
  NodeSockets sockets ABSL_GUARDED_BY(mu);
  std::string sockets_instance ABSL_GUARDED_BY(mu);
  ConnectionMemory memory ABSL_GUARDED_BY(mu);
  FindingMap findings ABSL_GUARDED_BY(mu);
  // Status for ListNodes.
  absl::Time last_report ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration lag ABSL_GUARDED_BY(mu);
  uint32_t namespaces_seen ABSL_GUARDED_BY(mu) = 0;
  uint32_t namespaces_failed ABSL_GUARDED_BY(mu) = 0;
  std::string docker_status ABSL_GUARDED_BY(mu);
  std::string translation_status ABSL_GUARDED_BY(mu);
  uint32_t ipvs_namespaces ABSL_GUARDED_BY(mu) = 0;
  uint32_t ipvs_blackhole_namespaces ABSL_GUARDED_BY(mu) = 0;
  // Last time anything arrived from it (staleness, forgetting, node loss).
  absl::Time last_contact ABSL_GUARDED_BY(mu);
  // Its agent spoke in this process (a node loaded with stored findings
  // alone has not: its last_contact is the load time).
  bool heard ABSL_GUARDED_BY(mu) = false;
  // The latest snapshot's own time (the agent's clock).
  absl::Time last_taken_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // taken_at minus the previous snapshot's, both of sockets_instance; zero
  // until known.
  absl::Duration report_interval ABSL_GUARDED_BY(mu);
  // Tick removed it from the Engine's nodes: a caller that found it before
  // must not bring it back to life (its data would go nowhere).
  bool forgotten ABSL_GUARDED_BY(mu) = false;

  // Shared stores (issue 12). The replica whose stream serves the node, or
  // served it last: this one's name while streams > 0, else the presence
  // table's; empty when unknown.
  std::string served_by ABSL_GUARDED_BY(mu);
  // The presence table's word on it from another replica: its stream is
  // open there, last heard of (that replica's clock) and last reported.
  bool connected_elsewhere ABSL_GUARDED_BY(mu) = false;
  absl::Time cluster_contact ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Time cluster_report ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // When this replica last stored its presence (InfinitePast: to write).
  absl::Time presence_written ABSL_GUARDED_BY(mu) = absl::InfinitePast();

  // Said hello, never sent a snapshot, has nothing worth keeping.
  bool NeverReported() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return last_report == absl::InfinitePast() && findings.empty();
  }
};

namespace {

// A finding that only moved its last_seen (and its connection memory's byte
// counters) is re-saved at most this often: transitions are saved at once,
// and after a restart a slightly old last_seen or byte count costs nothing
// (the next snapshot refreshes both).
constexpr absl::Duration kRefreshSaveEvery = absl::Minutes(1);

// A served node's presence row is rewritten at most this often while its
// stream stays open (Hello and the stream's end write it at once). Other
// replicas judge a node's silence by it, so it must stay well under
// --node-stale-after (minutes).
constexpr absl::Duration kPresenceRefresh = absl::Seconds(5);

int SeverityRank(v1::Severity severity) { return static_cast<int>(severity); }

bool Matches(const v1::ListFindingsRequest& filter, const v1::Finding& f) {
  if (!filter.node().empty() && f.socket().node() != filter.node()) {
    return false;
  }
  if (!filter.service().empty() && f.socket().service() != filter.service()) {
    return false;
  }
  if (filter.kind() != v1::FINDING_KIND_UNSPECIFIED &&
      f.kind() != filter.kind()) {
    return false;
  }
  if (filter.min_severity() != v1::SEVERITY_UNSPECIFIED &&
      SeverityRank(f.severity()) < SeverityRank(filter.min_severity())) {
    return false;
  }
  if (filter.status() != v1::FINDING_STATUS_UNSPECIFIED &&
      f.status() != filter.status()) {
    return false;
  }
  return true;
}

// Tick forgot the node between a caller finding it and locking it; a retry
// (the agent reconnects) admits it afresh.
absl::Status ForgottenMeanwhile(const std::string& node) {
  return absl::UnavailableError(absl::StrCat(
      "node '", node, "' was forgotten while this message waited; reconnect"));
}

size_t EnumIndex(int value, size_t size) {
  return value >= 0 && static_cast<size_t>(value) < size
             ? static_cast<size_t>(value)
             : 0;
}

// The detector memory stored with an open finding, keyed as the node's
// ConnectionMemory keys it; nullopt when there is none worth restoring.
// Decoding interns owners into `history` (its lock held).
std::optional<std::pair<uint64_t, SocketMemory>> StoredMemory(
    const StoredFinding& stored, AddressHistory* history) {
  if (stored.finding.status() != v1::OPEN || stored.memory.empty()) {
    return std::nullopt;
  }
  absl::StatusOr<SocketMemory> memory = DecodeMemory(stored.memory, history);
  if (!memory.ok()) {
    GP_LOG_WARN("finding {}: {}; its connection starts afresh",
                stored.finding.id(), memory.status().ToString());
    return std::nullopt;
  }
  if (memory->history_mark == 0) return std::nullopt;
  return std::make_pair(
      SocketFingerprint(SocketKeyView::Of(stored.finding.socket())),
      *std::move(memory));
}

// Checked before a store is opened, so a bad configuration creates no file.
absl::Status CheckOptions(const EngineOptions& options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("engine options: clock is null");
  }
  if (options.retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("engine options: retention must be > 0");
  }
  return absl::OkStatus();
}

}  // namespace

const char* RemediationMetricName(RemediationMetric metric) {
  switch (metric) {
    case RemediationMetric::kDestroyed:
      return "destroyed";
    case RemediationMetric::kAlreadyGone:
      return "already_gone";
    case RemediationMetric::kRefused:
      return "refused";
    case RemediationMetric::kFailed:
      return "failed";
    case RemediationMetric::kWouldDestroy:
      return "would_destroy";
    case RemediationMetric::kDeclined:
      return "declined";
    case RemediationMetric::kRateLimited:
      return "rate_limited";
  }
  return "unknown";
}

const char* IngestLimitName(IngestLimit limit) {
  switch (limit) {
    case IngestLimit::kMaxNodes:
      return "max_nodes";
    case IngestLimit::kMaxSocketsPerNode:
      return "max_sockets_per_node";
    case IngestLimit::kMaxSocketBytes:
      return "max_socket_bytes";
  }
  return "unknown";
}

Engine::Engine(EngineOptions options, std::unique_ptr<HistoryStore> store)
    : options_(std::move(options)),
      store_(std::move(store)),
      started_at_(options_.clock->Now()) {}

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(EngineOptions options) {
  GHOSTPEER_RETURN_IF_ERROR(CheckOptions(options));
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<HistoryStore> store,
      OpenHistoryStore(options.db_path, options.clock->Now()));
  return Open(std::move(options), std::move(store));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(
    EngineOptions options, std::unique_ptr<HistoryStore> store) {
  GHOSTPEER_RETURN_IF_ERROR(CheckOptions(options));
  if (store == nullptr) {
    return absl::InvalidArgumentError("engine: history store is null");
  }
  std::unique_ptr<Engine> engine(
      new Engine(std::move(options), std::move(store)));
  GHOSTPEER_RETURN_IF_ERROR(engine->Load());
  return engine;
}

absl::Status Engine::Load() {
  GHOSTPEER_ASSIGN_OR_RETURN(StoredState state, store_->Load());
  const absl::Time now = options_.clock->Now();
  // The connection memory lets an open finding continue (first holders, FIN
  // baseline) instead of restarting from scratch; a socket missing from the
  // node's next snapshot resolves it. Decoding interns owners into the
  // history, so it happens under the history lock, before any node lock
  // (lock order: node -> history).
  std::vector<std::optional<std::pair<uint64_t, SocketMemory>>> memories(
      state.findings.size());
  {
    absl::MutexLock lock(&history_mu_);
    GHOSTPEER_RETURN_IF_ERROR(history_.Load(std::move(state.intervals)));
    for (AgentSeq& seq : state.seqs) {
      seqs_[{std::move(seq.node), std::move(seq.agent_instance)}] = {seq.seq,
                                                                     now};
    }
    for (size_t i = 0; i < state.findings.size(); ++i) {
      memories[i] = StoredMemory(state.findings[i], &history_);
    }
  }
  for (size_t i = 0; i < state.findings.size(); ++i) {
    StoredFinding& stored = state.findings[i];
    std::shared_ptr<NodeState> node =
        GetOrCreateNode(stored.finding.socket().node());
    absl::MutexLock lock(&node->mu);
    if (memories[i].has_value()) {
      node->memory.sockets[memories[i]->first] = std::move(memories[i]->second);
    }
    const std::string id = stored.finding.id();
    node->findings[id] = {std::move(stored.finding), std::move(stored.memory),
                          now};
  }
  return absl::OkStatus();
}

std::shared_ptr<NodeState> Engine::GetOrCreateNode(const std::string& node) {
  const absl::Time now = options_.clock->Now();
  absl::MutexLock lock(&nodes_mu_);
  std::shared_ptr<NodeState>& state = nodes_[node];
  if (state == nullptr) state = std::make_shared<NodeState>(node, now);
  return state;
}

absl::StatusOr<std::shared_ptr<NodeState>> Engine::AdmitNode(
    const std::string& node, absl::Time now) {
  size_t known = 0;
  {
    absl::MutexLock lock(&nodes_mu_);
    auto it = nodes_.find(node);
    if (it != nodes_.end()) return it->second;
    known = nodes_.size();
    if (known < options_.ingest_limits.max_nodes) {
      auto state = std::make_shared<NodeState>(node, now);
      nodes_.emplace(node, state);
      return state;
    }
  }
  return OverLimit(
      IngestLimit::kMaxNodes,
      absl::StrCat("node '", node, "' refused: ", known,
                   " nodes known, the limit (--max-nodes) is ",
                   options_.ingest_limits.max_nodes,
                   "; a node that never reports is forgotten after "
                   "--node-stale-after"));
}

absl::Status Engine::OverLimit(IngestLimit limit, const std::string& message) {
  {
    absl::MutexLock lock(&counters_mu_);
    ++counters_.messages_over_limit[static_cast<size_t>(limit)];
  }
  return absl::ResourceExhaustedError(message);
}

absl::Status Engine::ResizeSocketBytes(const std::string& node, size_t from,
                                       size_t to) {
  uint64_t held = 0;
  {
    absl::MutexLock lock(&socket_bytes_mu_);
    held = socket_bytes_held_ - from;
    if (to <= from || held + to <= options_.ingest_limits.max_socket_bytes) {
      socket_bytes_held_ = held + to;
      return absl::OkStatus();
    }
  }
  return OverLimit(
      IngestLimit::kMaxSocketBytes,
      absl::StrCat("socket snapshot from node '", node, "' refused: it needs ",
                   to, " bytes of socket state, the other nodes hold ", held,
                   ", the limit for all nodes (--max-socket-bytes) is ",
                   options_.ingest_limits.max_socket_bytes));
}

void Engine::DropSockets(NodeState& state) {
  const size_t held = state.sockets.held_bytes();
  state.sockets.Clear();
  state.sockets_instance.clear();
  absl::MutexLock lock(&socket_bytes_mu_);
  socket_bytes_held_ -= held;
}

std::shared_ptr<NodeState> Engine::FindNode(const std::string& node) const {
  absl::ReaderMutexLock lock(&nodes_mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<NodeState>> Engine::AllNodes() const {
  absl::ReaderMutexLock lock(&nodes_mu_);
  std::vector<std::shared_ptr<NodeState>> all;
  all.reserve(nodes_.size());
  for (const auto& [name, state] : nodes_) all.push_back(state);
  return all;
}

uint64_t Engine::StoredSeq(const std::string& node,
                           const std::string& agent_instance) const {
  absl::ReaderMutexLock lock(&history_mu_);
  auto it = seqs_.find(std::make_pair(node, agent_instance));
  return it == seqs_.end() ? 0 : it->second.seq;
}

absl::Time Engine::RetainedSince(absl::Time now) const {
  return std::max(store_->created_at(), now - options_.retention);
}

absl::StatusOr<uint64_t> Engine::Hello(const v1::Hello& hello) {
  if (absl::Status valid = ValidateHello(hello, options_.limits); !valid.ok()) {
    absl::MutexLock lock(&counters_mu_);
    ++counters_.messages_rejected;
    return absl::InvalidArgumentError(absl::StrCat("hello: ", valid.message()));
  }
  // Another replica may have stored this agent's events since this one
  // last looked (the agent failed over from it): answer the freshest seq,
  // or the agent resends what is stored already and, worse, a seq from
  // memory could be older than what it dropped from its journal. While the
  // store is unreadable the seq in memory is the best there is; the
  // batches the agent resends are judged against the stored seq anyway
  // (WriteHistory merges before it compares).
  if (shared() && StoreReadable().ok()) {
    if (absl::Status caught = CatchUpAfter(catch_ups_started_.load());
        !caught.ok()) {
      GP_LOG_WARN("hello from node {}: answering from memory: {}", hello.node(),
                  caught.ToString());
    }
  }
  const absl::Time now = options_.clock->Now();
  GHOSTPEER_ASSIGN_OR_RETURN(std::shared_ptr<NodeState> state,
                             AdmitNode(hello.node(), now));
  bool restore_memory = false;
  NodePresence presence;
  {
    absl::MutexLock lock(&state->mu);
    if (state->forgotten) return ForgottenMeanwhile(hello.node());
    state->agent_instance = hello.agent_instance();
    state->agent_version = hello.agent_version();
    state->kernel = hello.kernel();
    state->remediation_enabled = hello.remediation_enabled();
    state->remediation_refusal = hello.remediation_refusal();
    // Unless this replica served the node last, another may have (its
    // presence row is only a hint: it may have failed to write): the
    // memory here, if any, is older than what was stored with the
    // findings. Restored as at a restart.
    restore_memory = shared() && state->streams == 0 &&
                     state->served_by != options_.replica_name;
    ++state->streams;
    state->last_contact = now;
    state->heard = true;
    state->served_by = options_.replica_name;
    state->connected_elsewhere = false;
    state->presence_written = now;
    presence = {state->name, options_.replica_name, true, now,
                state->last_report};
  }
  if (restore_memory) RestoreMemory(*state);
  if (shared()) WritePresence({presence}, now);
  return StoredSeq(hello.node(), hello.agent_instance());
}

void Engine::CountRejectedMessage() {
  absl::MutexLock lock(&counters_mu_);
  ++counters_.messages_rejected;
}

void Engine::CountRemediationOutcome(v1::RemediationOutcomeKind kind) {
  const size_t index = static_cast<size_t>(kind);
  absl::MutexLock lock(&counters_mu_);
  if (index < counters_.remediation_outcomes_received.size()) {
    ++counters_.remediation_outcomes_received[index];
  }
}

void Engine::CountRemediation(RemediationMetric metric,
                              v1::RemediationMode mode) {
  const size_t index = static_cast<size_t>(metric);
  absl::MutexLock lock(&counters_mu_);
  if (index < counters_.remediations.size()) {
    ++counters_.remediations[index][EnumIndex(mode, 4)];
  }
}

NodeReportFacts Engine::NodeFacts(const std::string& node) const {
  NodeReportFacts facts;
  std::shared_ptr<NodeState> state = FindNode(node);
  if (state == nullptr) return facts;
  absl::MutexLock lock(&state->mu);
  if (state->forgotten) return facts;
  facts.known = true;
  facts.connected = state->streams > 0;
  facts.remediation_enabled = state->remediation_enabled;
  facts.remediation_refusal = state->remediation_refusal;
  facts.last_report = state->last_report;
  facts.report_interval = state->report_interval;
  return facts;
}

std::string Engine::ServiceRemediationLabel(const std::string& service) const {
  if (service.empty()) return "";
  absl::MutexLock lock(&swarm_mu_);
  auto it = service_remediation_.find(service);
  return it == service_remediation_.end() ? "" : it->second;
}

std::optional<v1::Finding> Engine::FindFinding(const std::string& id) const {
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    auto it = state->findings.find(id);
    if (it != state->findings.end()) return it->second.finding;
  }
  return std::nullopt;
}

absl::Status Engine::SetFindingRemediation(const std::string& node,
                                           const std::string& id,
                                           const std::string& summary) {
  std::shared_ptr<NodeState> state = FindNode(node);
  if (state == nullptr) {
    return absl::NotFoundError(absl::StrCat("no node ", node));
  }
  absl::MutexLock lock(&state->mu);
  auto it = state->findings.find(id);
  if (it == state->findings.end()) {
    return absl::NotFoundError(
        absl::StrCat("no finding ", id, " on node ", node));
  }
  TrackedFinding& tracked = it->second;
  if (tracked.finding.remediation() == summary) return absl::OkStatus();
  tracked.finding.set_remediation(summary);
  if (tracked.finding.status() == v1::OPEN) {
    Publish(*state, {{v1::UPDATED, id}});
  } else {
    // An answer that arrives after the finding resolved is kept with it
    // but announced to nobody: followers heard it close already.
    tracked.saved_at = absl::InfinitePast();
    Publish(*state, {{v1::FINDING_EVENT_TYPE_UNSPECIFIED, id}});
  }
  return absl::OkStatus();
}

void Engine::Disconnected(const std::string& node,
                          const std::string& agent_instance) {
  std::shared_ptr<NodeState> state = FindNode(node);
  if (state == nullptr) return;
  NodePresence presence;
  {
    absl::MutexLock lock(&state->mu);
    state->streams = std::max(0, state->streams - 1);
    if (state->streams > 0 || !shared()) return;
    state->presence_written = absl::InfinitePast();
    presence = {state->name, options_.replica_name, false, state->last_contact,
                state->last_report};
  }
  // Other replicas judge the node's silence from here on.
  WritePresence({presence}, options_.clock->Now());
}

absl::StatusOr<uint64_t> Engine::IngestAddressEvents(
    const std::string& node, const std::string& agent_instance,
    const v1::AddressEventBatch& batch) {
  const absl::Time now = options_.clock->Now();
  v1::AddressEventBatch events = batch;
  absl::Status valid = ValidateNodeName(node, options_.limits);
  if (valid.ok() && agent_instance.empty()) {
    valid = absl::InvalidArgumentError("agent_instance: missing");
  }
  if (valid.ok()) {
    valid = ValidateAddressEventBatch(&events, node, now, options_.limits);
  }
  if (!valid.ok()) {
    absl::MutexLock lock(&counters_mu_);
    ++counters_.messages_rejected;
    return absl::InvalidArgumentError(absl::StrCat(
        "address events from node '", node, "': ", valid.message()));
  }

  std::array<uint64_t, 4> by_source{};
  uint64_t replayed = 0;
  uint64_t acked = 0;
  absl::Status stored = absl::OkStatus();
  {
    absl::MutexLock lock(&history_mu_);
    const std::pair<std::string, std::string> key(node, agent_instance);
    HistoryChanges changes;
    bool computed = false;
    uint64_t applied = 0;
    stored = store_->WriteHistory(
        [&](CommittedChanges committed) { MergeHistoryLocked(committed, now); },
        [&]() {
          computed = true;
          // Compared after the merge: another replica may have stored these
          // events already (the agent failed over before its ack came).
          const uint64_t stored_seq = seqs_[key].seq;
          applied = stored_seq;
          for (const v1::AddressEvent& event : events.events()) {
            if (event.seq() <= stored_seq) {
              ++replayed;
              continue;
            }
            history_.Apply(node, event, &changes);
            applied = event.seq();
            ++by_source[EnumIndex(event.source(), by_source.size())];
          }
          HistoryWrite write;
          if (applied > stored_seq) {
            write.changes = &changes;
            write.seq = AgentSeq{node, agent_instance, applied};
          }
          return write;
        },
        now);
    SeqState& seq = seqs_[key];
    const bool wrote = computed && applied > seq.seq;
    // A write that had nothing to store says nothing about the store.
    if (wrote || !stored.ok()) {
      store_health_.Record(StoreWrite::kIngest, stored, now);
    }
    if (!stored.ok()) {
      if (computed) history_.Revert(changes);
    } else if (wrote) {
      seq.seq = applied;
      seq.updated = now;
    }
    acked = seq.seq;
  }
  absl::MutexLock lock(&counters_mu_);
  if (!stored.ok()) {
    ++counters_.store_errors;
    return stored;
  }
  for (size_t i = 0; i < by_source.size(); ++i) {
    counters_.address_events_by_source[i] += by_source[i];
  }
  counters_.address_events_replayed += replayed;
  return acked;
}

absl::StatusOr<v1::Ack> Engine::IngestSnapshot(
    const std::string& node, const std::string& agent_instance,
    const v1::SocketSnapshot& snapshot, absl::Time received_at) {
  return IngestSnapshot(node, agent_instance, v1::SocketSnapshot(snapshot),
                        received_at);
}

absl::StatusOr<v1::Ack> Engine::IngestSnapshot(
    const std::string& node, const std::string& agent_instance,
    v1::SocketSnapshot&& snapshot, absl::Time received_at) {
  const absl::Time started = options_.clock->Now();
  absl::Status valid = ValidateNodeName(node, options_.limits);
  if (valid.ok() && agent_instance.empty()) {
    valid = absl::InvalidArgumentError("agent_instance: missing");
  }
  if (valid.ok()) {
    valid = ValidateSocketSnapshot(&snapshot, node, started, options_.limits);
  }
  if (!valid.ok()) {
    absl::MutexLock lock(&counters_mu_);
    ++counters_.messages_rejected;
    return absl::InvalidArgumentError(absl::StrCat(
        "socket snapshot from node '", node, "': ", valid.message()));
  }

  // A manager's view of the swarm's nodes is evidence whatever becomes of
  // the rest of the snapshot; acted on first, so that this snapshot's own
  // detection already sees a lost node's addresses closed, and before the
  // node's lock (the check takes other nodes' locks).
  if (snapshot.snapshot().swarm_nodes_size() > 0) {
    UpdateSwarmView(node, snapshot.snapshot().swarm_nodes(), received_at);
    UpdateServiceRemediation(snapshot.snapshot().service_remediation());
    CheckNodeLoss(started);
  }

  v1::Ack ack;
  ack.set_snapshot_id(snapshot.snapshot_id());
  ack.set_address_seq(StoredSeq(node, agent_instance));
  const bool full = snapshot.full();
  const uint64_t records = snapshot.snapshot().sockets_size();
  GHOSTPEER_ASSIGN_OR_RETURN(std::shared_ptr<NodeState> state_ptr,
                             AdmitNode(node, received_at));
  NodeState& state = *state_ptr;
  absl::Duration detection_time;
  {
    absl::MutexLock lock(&state.mu);
    if (state.forgotten) return ForgottenMeanwhile(node);
    state.last_contact = received_at;
    state.heard = true;
    // Deltas refer to snapshots of one agent process; a new process starts
    // from a full snapshot. The connection memory stays: sockets outlive
    // agent restarts.
    const bool new_instance = state.sockets_instance != agent_instance;
    std::optional<NodeSockets::Prepared> prepared;
    if (full) {
      prepared = state.sockets.PrepareFull(std::move(snapshot));
    } else if (!new_instance) {
      prepared = state.sockets.PrepareDelta(std::move(snapshot));
    }
    if (!prepared.has_value()) {
      if (new_instance) {
        DropSockets(state);
        state.sockets_instance = agent_instance;
      }
      ack.set_full_snapshot_required(true);
      absl::MutexLock counters_lock(&counters_mu_);
      ++counters_.full_snapshots_required;
      return ack;
    }
    // Limits are checked on the view the snapshot would make, before
    // anything changes: a refused snapshot leaves the previous one in place.
    const size_t max_sockets = options_.ingest_limits.max_sockets_per_node;
    if (prepared->view_size() > max_sockets) {
      return OverLimit(
          IngestLimit::kMaxSocketsPerNode,
          absl::StrCat("socket snapshot from node '", node,
                       "' refused: ", prepared->view_size(),
                       " sockets, the limit per node (--max-sockets-per-node) "
                       "is ",
                       max_sockets));
    }
    GHOSTPEER_RETURN_IF_ERROR(ResizeSocketBytes(
        node, state.sockets.held_bytes(), prepared->held_bytes()));
    state.sockets.Apply(*std::move(prepared));
    state.sockets_instance = agent_instance;
    ack.set_full_snapshot_id(state.sockets.base_snapshot_id());

    const v1::NodeSnapshot& latest = state.sockets.latest();
    const absl::Time taken_at = FromProto(latest.taken_at());
    // The instance check above: deltas and fulls of one agent process.
    state.report_interval = state.last_taken_at != absl::InfinitePast() &&
                                    !new_instance &&
                                    taken_at > state.last_taken_at
                                ? taken_at - state.last_taken_at
                                : absl::ZeroDuration();
    state.last_taken_at = taken_at;
    state.last_report = received_at;
    state.lag = received_at - taken_at;
    if (!latest.agent_version().empty()) {
      state.agent_version = latest.agent_version();
    }
    if (!latest.kernel().empty()) state.kernel = latest.kernel();
    state.docker_status = latest.docker_status();
    state.translation_status = latest.translation_status();
    state.namespaces_seen = latest.namespaces_size();
    state.namespaces_failed = 0;
    state.ipvs_namespaces = 0;
    state.ipvs_blackhole_namespaces = 0;
    for (const v1::NamespaceInfo& ns : latest.namespaces()) {
      if (ns.status() == v1::NAMESPACE_STATUS_FAILED) ++state.namespaces_failed;
      if (!ns.has_ipvs()) continue;
      ++state.ipvs_namespaces;
      // -1 (unreadable) is no evidence either way.
      if (ns.ipvs().expire_nodest_conn() == 0)
        ++state.ipvs_blackhole_namespaces;
    }

    std::vector<SocketView> views;
    views.reserve(state.sockets.size());
    state.sockets.ForEach(
        [&views](const SocketView& v) { views.push_back(v); });
    DetectionInput input;
    input.node = node;
    input.now = received_at;
    input.taken_at = taken_at;
    input.sockets = views;
    input.namespaces = &latest.namespaces();
    const absl::Time detect_start = options_.clock->Now();
    std::vector<DetectedFinding> detected;
    {
      absl::ReaderMutexLock history_lock(&history_mu_);
      detected = Detect(input, history_, options_.detector, &state.memory);
    }
    detection_time = options_.clock->Now() - detect_start;
    Publish(state, ReconcileFindings(std::move(detected), received_at,
                                     &state.findings));
  }
  absl::MutexLock lock(&counters_mu_);
  counters_.socket_records_ingested += records;
  ++(full ? counters_.full_snapshots : counters_.delta_snapshots);
  counters_.detection_latency.Observe(detection_time);
  counters_.ingest_latency.Observe(options_.clock->Now() - started);
  return ack;
}

void Engine::Publish(NodeState& state,
                     const std::vector<FindingChange>& changes) {
  if (changes.empty()) return;
  const absl::Time now = options_.clock->Now();
  std::vector<StoredFinding> to_store;
  std::vector<TrackedFinding*> saved;
  std::vector<v1::FindingEvent> events;
  std::array<uint64_t, 4> opened{}, resolved{};
  std::vector<absl::Duration> departure_waits;
  for (const FindingChange& change : changes) {
    TrackedFinding& tracked = state.findings.at(change.id);
    const bool silent = change.type == v1::FINDING_EVENT_TYPE_UNSPECIFIED;
    if (!silent || now - tracked.saved_at >= kRefreshSaveEvery) {
      to_store.push_back({tracked.finding, tracked.memory});
      saved.push_back(&tracked);
    }
    if (silent) continue;
    v1::FindingEvent& event = events.emplace_back();
    event.set_type(change.type);
    *event.mutable_finding() = tracked.finding;
    const size_t kind = EnumIndex(tracked.finding.kind(), opened.size());
    if (change.type == v1::OPENED) ++opened[kind];
    if (change.type == v1::CLOSED) ++resolved[kind];
    // A kind change counts as the old kind's end and the new kind's start,
    // so opened minus resolved stays the open count of each kind; a close-
    // wait writer found to write to a ghost is that ghost's raising.
    if (change.kind_changed) {
      ++resolved[EnumIndex(tracked.finding.previous_kind(), resolved.size())];
      ++opened[kind];
    }
    if ((change.type == v1::OPENED || change.kind_changed) &&
        tracked.finding.kind() != v1::CLOSE_WAIT_WRITER &&
        tracked.finding.peer_last_owner().has_until()) {
      const google::protobuf::Timestamp& raised =
          change.kind_changed ? tracked.finding.last_seen()
                              : tracked.finding.first_seen();
      departure_waits.push_back(
          std::max(absl::ZeroDuration(),
                   FromProto(raised) -
                       FromProto(tracked.finding.peer_last_owner().until())));
    }
  }
  // A failed write costs durability until the finding's next change or
  // refresh re-saves it; the ingest goes on.
  absl::Status stored = store_->SaveFindings(to_store, now);
  // An empty save does not reach the store: it says nothing about it.
  if (!to_store.empty()) {
    store_health_.Record(StoreWrite::kIngest, stored, now);
  }
  if (stored.ok()) {
    for (TrackedFinding* tracked : saved) tracked->saved_at = now;
  } else {
    GP_LOG_WARN("node {}: findings kept in memory only: {}", state.name,
                stored.ToString());
    findings_unsaved_ = true;
  }
  {
    absl::MutexLock lock(&counters_mu_);
    if (!stored.ok()) ++counters_.store_errors;
    for (size_t i = 0; i < opened.size(); ++i) {
      counters_.findings_opened_by_kind[i] += opened[i];
      counters_.findings_resolved_by_kind[i] += resolved[i];
    }
    for (absl::Duration wait : departure_waits) {
      counters_.departure_to_finding.Observe(wait);
    }
  }
  if (events.empty()) return;
  std::vector<std::shared_ptr<const FindingListener>> listeners;
  {
    absl::ReaderMutexLock lock(&listeners_mu_);
    for (const auto& [id, listener] : listeners_) listeners.push_back(listener);
  }
  for (const v1::FindingEvent& event : events) {
    for (const auto& listener : listeners) (*listener)(event);
  }
}

v1::ListFindingsResponse Engine::ListFindings(
    const v1::ListFindingsRequest& request) const {
  std::vector<v1::Finding> found;
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    if (!request.node().empty() && state->name != request.node()) continue;
    absl::MutexLock lock(&state->mu);
    for (const auto& [id, tracked] : state->findings) {
      if (Matches(request, tracked.finding)) found.push_back(tracked.finding);
    }
  }
  std::sort(found.begin(), found.end(),
            [](const v1::Finding& a, const v1::Finding& b) {
              const bool a_open = a.status() == v1::OPEN;
              const bool b_open = b.status() == v1::OPEN;
              if (a_open != b_open) return a_open;
              if (a.severity() != b.severity()) {
                return SeverityRank(a.severity()) > SeverityRank(b.severity());
              }
              const absl::Time a_first = FromProto(a.first_seen());
              const absl::Time b_first = FromProto(b.first_seen());
              if (a_first != b_first) return a_first < b_first;
              return a.id() < b.id();
            });
  v1::ListFindingsResponse response;
  response.mutable_findings()->Reserve(static_cast<int>(found.size()));
  for (v1::Finding& finding : found) {
    *response.add_findings() = std::move(finding);
  }
  return response;
}

uint32_t Engine::ListSocketsLimit(const v1::ListSocketsRequest& request) const {
  return request.limit() == 0
             ? options_.max_list_sockets
             : std::min(request.limit(), options_.max_list_sockets);
}

v1::ListSocketsResponse Engine::ListSockets(
    const v1::ListSocketsRequest& request) const {
  v1::ListSocketsResponse response;
  std::string remote;
  if (!request.remote_ip().empty()) {
    absl::StatusOr<std::string> normalized =
        NormalizeIpAddress(request.remote_ip());
    if (!normalized.ok()) return response;  // no socket has that peer
    remote = *std::move(normalized);
  }
  const uint32_t limit = ListSocketsLimit(request);
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    if (!request.node().empty() && state->name != request.node()) continue;
    absl::MutexLock lock(&state->mu);
    if (state->streams == 0 && state->connected_elsewhere &&
        !state->served_by.empty()) {
      // Its sockets are with the replica its agent streams to; what this
      // one may still hold is older.
      (*response.mutable_served_elsewhere())[state->name] = state->served_by;
      continue;
    }
    state->sockets.ForEach([&](const SocketView& view) {
      // A translated socket is also found by its backend (what it really
      // talks to).
      if (!remote.empty() && view.remote_ip() != remote &&
          view.backend_ip() != remote) {
        return;
      }
      if (request.state() != v1::TCP_STATE_UNSPECIFIED &&
          view.state() != request.state()) {
        return;
      }
      if (static_cast<uint32_t>(response.sockets_size()) >= limit) {
        response.set_truncated(true);
        return;
      }
      *response.add_sockets() = ReAged(view);
    });
  }
  return response;
}

absl::StatusOr<v1::GetAddressHistoryResponse> Engine::GetAddressHistory(
    const v1::GetAddressHistoryRequest& request) const {
  absl::StatusOr<std::string> address = NormalizeIpAddress(request.address());
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address: ", address.status().message()));
  }
  const absl::Time retained_since = RetainedSince(options_.clock->Now());
  const bool at_time = request.has_at();
  const absl::Time at = FromProto(request.at());
  if (at_time && at < retained_since) {
    return absl::OutOfRangeError(absl::StrCat(
        "history retained since ", ghostpeer::FormatTime(retained_since), "; ",
        ghostpeer::FormatTime(at), " is before it"));
  }
  v1::GetAddressHistoryResponse response;
  *response.mutable_retained_since() = ToProto(retained_since);
  absl::ReaderMutexLock lock(&history_mu_);
  const AddressRecord* record = history_.Find(*address);
  if (record == nullptr) return response;
  for (const OwnershipInterval& interval : record->intervals) {
    // Narrowed to a node: what a client there reaches (as the detector
    // resolves it).
    if (!request.node().empty() &&
        !ReachableFrom(interval.owner, request.node())) {
      continue;
    }
    // A zero-length interval (a DETACH with no known start) covers its
    // instant.
    if (at_time && !(interval.since <= at &&
                     (at < interval.until || at == interval.since))) {
      continue;
    }
    *response.add_intervals() = interval.ToProto();
  }
  return response;
}

v1::ListNodesResponse Engine::ListNodes() const {
  absl::btree_map<std::string, SwarmNodeEntry> swarm;
  {
    absl::MutexLock lock(&swarm_mu_);
    swarm = swarm_nodes_;
  }
  std::vector<v1::NodeStatus> nodes;
  auto add_swarm = [&swarm](const std::string& name, v1::NodeStatus* status) {
    auto it = swarm.find(name);
    if (it == swarm.end()) return;
    const SwarmNodeEntry& entry = it->second;
    *status->mutable_swarm() = entry.view.node;
    status->set_swarm_reported_by(entry.view.reported_by);
    *status->mutable_swarm_received_at() = ToProto(entry.view.received_at);
    if (entry.lost) {
      status->set_lost(true);
      *status->mutable_lost_at() = ToProto(entry.lost_at);
    }
    swarm.erase(it);
  };
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    v1::NodeStatus& status = nodes.emplace_back();
    status.set_node(state->name);
    status.set_agent_version(state->agent_version);
    // Another replica's word is newer when the node moved there.
    if (state->cluster_report > state->last_report) {
      *status.mutable_last_report() = ToProto(state->cluster_report);
    } else if (state->last_report != absl::InfinitePast()) {
      *status.mutable_last_report() = ToProto(state->last_report);
      *status.mutable_lag() = ToProto(state->lag);
    }
    status.set_namespaces_seen(state->namespaces_seen);
    status.set_namespaces_failed(state->namespaces_failed);
    status.set_sockets(static_cast<uint32_t>(state->sockets.size()));
    status.set_connected(state->streams > 0 || state->connected_elsewhere);
    // A single aggregator serves everything: nothing to say.
    if (shared()) status.set_served_by(state->served_by);
    status.set_docker_status(state->docker_status);
    status.set_translation_status(state->translation_status);
    status.set_ipvs_namespaces(state->ipvs_namespaces);
    status.set_ipvs_blackhole_namespaces(state->ipvs_blackhole_namespaces);
    status.set_kernel(state->kernel);
    status.set_remediation_enabled(state->remediation_enabled);
    status.set_remediation_refusal(state->remediation_refusal);
    if (state->heard || state->cluster_contact != absl::InfinitePast()) {
      *status.mutable_last_contact() = ToProto(
          state->heard ? std::max(state->last_contact, state->cluster_contact)
                       : state->cluster_contact);
    }
    add_swarm(state->name, &status);
  }
  // Nodes the managers know and no agent spoke for: an agent missing.
  while (!swarm.empty()) {
    const std::string name = swarm.begin()->first;
    v1::NodeStatus& status = nodes.emplace_back();
    status.set_node(name);
    add_swarm(name, &status);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const v1::NodeStatus& a, const v1::NodeStatus& b) {
              return a.node() < b.node();
            });
  v1::ListNodesResponse response;
  for (v1::NodeStatus& status : nodes) {
    *response.add_nodes() = std::move(status);
  }
  return response;
}

void Engine::UpdateSwarmView(
    const std::string& reporter,
    const google::protobuf::RepeatedPtrField<v1::SwarmNode>& nodes,
    absl::Time received_at) {
  absl::MutexLock lock(&swarm_mu_);
  absl::btree_map<std::string, SwarmNodeEntry> next;
  for (const v1::SwarmNode& node : nodes) {
    const std::string& name =
        node.hostname().empty() ? node.id() : node.hostname();
    if (name.empty()) continue;
    SwarmNodeEntry& entry = next[name];
    if (auto old = swarm_nodes_.find(name); old != swarm_nodes_.end()) {
      entry = std::move(old->second);
    }
    entry.view = {node, reporter, received_at};
  }
  swarm_nodes_ = std::move(next);
}

void Engine::UpdateServiceRemediation(
    const google::protobuf::Map<std::string, std::string>& labels) {
  // Hostile input: a manager's agent could send any map. Labels are few (one
  // per service that has one); what is past these bounds is no choice, and
  // a service without a choice follows the flag.
  constexpr size_t kMaxServices = 10000;
  constexpr size_t kMaxNameBytes = 256;
  constexpr size_t kMaxValueBytes = 32;
  absl::flat_hash_map<std::string, std::string> next;
  for (const auto& [service, label] : labels) {
    if (next.size() >= kMaxServices) break;
    if (service.empty() || service.size() > kMaxNameBytes ||
        label.size() > kMaxValueBytes) {
      continue;
    }
    next.emplace(service, label);
  }
  absl::MutexLock lock(&swarm_mu_);
  service_remediation_ = std::move(next);
}

void Engine::CheckNodeLoss(absl::Time now) {
  absl::MutexLock serial(&node_loss_mu_);
  // 1. The nodes the managers call down; a node they no longer do is not
  //    lost (its agent's next INVENTORY reopens what it holds).
  std::vector<std::pair<std::string, SwarmNodeEntry>> down;
  {
    absl::MutexLock lock(&swarm_mu_);
    for (auto& [name, entry] : swarm_nodes_) {
      if (entry.view.node.state() == v1::SWARM_NODE_STATE_DOWN) {
        down.emplace_back(name, entry);
      } else {
        entry.lost = false;
      }
    }
  }
  // Named references, not a structured binding: the lambdas below capture
  // them, which C++17 does not allow of structured bindings (clang refuses).
  for (auto& down_node : down) {
    const std::string& name = down_node.first;
    SwarmNodeEntry& entry = down_node.second;
    // 2. What its own agent said, and when.
    AgentPresence agent;
    agent.last_contact = started_at_;
    if (std::shared_ptr<NodeState> state = FindNode(name)) {
      absl::MutexLock lock(&state->mu);
      agent.last_contact = std::max(state->last_contact, started_at_);
      agent.last_taken_at = state->last_taken_at;
    }
    const std::optional<absl::Time> at =
        NodeLostAt(entry.view, agent, now, options_.node_loss);
    // 3. Close what it held, unless that was done and nothing changed since.
    size_t closed = 0;
    uint64_t generation = 0;
    if (at.has_value()) {
      absl::MutexLock lock(&history_mu_);
      if (entry.lost && entry.closed_contact == agent.last_contact &&
          entry.closed_generation == history_.generation()) {
        continue;
      }
      HistoryChanges changes;
      bool computed = false;
      absl::Status stored = store_->WriteHistory(
          [&](CommittedChanges committed) {
            MergeHistoryLocked(committed, now);
          },
          [&]() {
            computed = true;
            // On the merged history: what another replica closed already
            // is not closed again.
            closed = history_.CloseNode(name, *at, &changes);
            // Owners known only from the tasks API name the node by id
            // when the managers gave no hostname.
            const std::string& id = entry.view.node.id();
            if (!id.empty() && id != name) {
              closed += history_.CloseNode(id, *at, &changes);
            }
            HistoryWrite write;
            write.changes = &changes;
            return write;
          },
          now);
      if (!changes.empty() || !stored.ok()) {
        store_health_.Record(StoreWrite::kIngest, stored, now);
      }
      if (!stored.ok()) {
        // Memory follows disk; the next check (Tick) tries again.
        if (computed) history_.Revert(changes);
        GP_LOG_WARN("node {} lost, its intervals not closed yet: {}", name,
                    stored.ToString());
        absl::MutexLock counters_lock(&counters_mu_);
        ++counters_.store_errors;
        continue;
      }
      generation = history_.generation();
    }
    if (closed > 0) {
      GP_LOG_WARN(
          "node {} lost: the managers marked it down ({}), its agent silent "
          "since {}; {} address holding(s) closed at {}",
          name, EscapeForLog(entry.view.node.message(), 200),
          ghostpeer::FormatTime(agent.last_contact), closed,
          ghostpeer::FormatTime(*at));
    }
    absl::MutexLock lock(&swarm_mu_);
    auto it = swarm_nodes_.find(name);
    if (it == swarm_nodes_.end()) continue;
    SwarmNodeEntry& current = it->second;
    if (!at.has_value()) {
      current.lost = false;
      continue;
    }
    if (!current.lost || current.closed_contact != agent.last_contact) {
      current.lost_at = *at;
    }
    current.lost = true;
    current.closed_contact = agent.last_contact;
    current.closed_generation = generation;
  }
}

int Engine::Subscribe(FindingListener listener) {
  absl::MutexLock lock(&listeners_mu_);
  const int id = next_listener_id_++;
  listeners_[id] = std::make_shared<const FindingListener>(std::move(listener));
  return id;
}

void Engine::Unsubscribe(int id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

absl::Status Engine::Tick() {
  const absl::Time now = options_.clock->Now();
  const absl::Time horizon = now - options_.retention;
  {
    absl::MutexLock lock(&history_mu_);
    history_.PurgeEndedBefore(horizon);
    for (auto it = seqs_.begin(); it != seqs_.end();) {
      if (it->second.updated < horizon) {
        seqs_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  absl::Status stored = store_->Purge(horizon);
  store_health_.Record(StoreWrite::kHousekeeping, stored, now);
  const absl::Time stale_before = now - options_.node_stale_after;
  std::vector<std::shared_ptr<NodeState>> forget;
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    ForgetResolvedBefore(horizon, &state->findings);
    // Silence is judged cluster-wide (issue 12): a node whose stream is
    // open on another replica, or that reported there lately, is not silent
    // — this replica merely holds no stream of it, and must neither resolve
    // its findings nor forget it.
    const absl::Time contact =
        std::max(state->last_contact, state->cluster_contact);
    const bool served_elsewhere = state->streams == 0 &&
                                  state->connected_elsewhere &&
                                  state->cluster_contact >= stale_before;
    // A hello alone must not hold a place under max_nodes for long, even
    // with its stream kept open: such a node has nothing to lose.
    const bool hello_only = state->NeverReported() && contact < stale_before;
    if ((state->streams > 0 || served_elsewhere) && !hello_only) continue;
    if (hello_only || contact < horizon) {
      std::vector<FindingChange> resolved = ResolveAll(now, &state->findings);
      // Every replica forgets the node; the one that served it last
      // announces its findings' end, the others store it silently.
      if (!state->served_by.empty() &&
          state->served_by != options_.replica_name) {
        for (FindingChange& change : resolved) {
          change.type = v1::FINDING_EVENT_TYPE_UNSPECIFIED;
          change.kind_changed = false;
          state->findings.at(change.id).saved_at = absl::InfinitePast();
        }
      }
      Publish(*state, resolved);
      DropSockets(*state);
      state->forgotten = true;
      forget.push_back(state);
    } else if (contact < stale_before && state->sockets.has_base()) {
      DropSockets(*state);
    }
  }
  if (!forget.empty()) {
    absl::MutexLock lock(&nodes_mu_);
    for (const std::shared_ptr<NodeState>& state : forget) {
      auto it = nodes_.find(state->name);
      if (it != nodes_.end() && it->second == state) nodes_.erase(it);
    }
  }
  CheckNodeLoss(now);
  if (!stored.ok()) {
    absl::MutexLock lock(&counters_mu_);
    ++counters_.store_errors;
  }
  return stored;
}

void Engine::MergeHistoryLocked(CommittedChanges& committed, absl::Time now) {
  for (OwnershipInterval& interval : committed.intervals) {
    history_.Merge(std::move(interval));
  }
  for (AgentSeq& stored : committed.seqs) {
    SeqState& seq =
        seqs_[{std::move(stored.node), std::move(stored.agent_instance)}];
    // Seqs never go back (a row read twice, or older than a local write).
    if (stored.seq > seq.seq) seq.seq = stored.seq;
    seq.updated = now;
  }
}

void Engine::MergeFindings(std::vector<StoredFinding> findings,
                           absl::Time now) {
  for (StoredFinding& stored : findings) {
    const std::string node = stored.finding.socket().node();
    // Rows are hostile like anything read back: a finding without its node
    // or id has nowhere to go.
    if (node.empty() || stored.finding.id().empty()) continue;
    std::shared_ptr<NodeState> state = GetOrCreateNode(node);
    absl::MutexLock lock(&state->mu);
    // The replica serving the node is the authority on its findings (this
    // one, while a stream of it is open here); a forgotten node stays so.
    if (state->streams > 0 || state->forgotten) continue;
    const std::string id = stored.finding.id();
    state->findings[id] = {std::move(stored.finding), std::move(stored.memory),
                           now};
  }
}

void Engine::MergePresence(std::vector<NodePresence> presence, absl::Time now) {
  const absl::Time stale_before = now - options_.node_stale_after;
  for (NodePresence& row : presence) {
    if (row.node.empty() || row.replica == options_.replica_name) continue;
    std::shared_ptr<NodeState> state = FindNode(row.node);
    // A node another replica heard of lately is part of the cluster this
    // one answers for (ListNodes); an old row brings nothing back.
    if (state == nullptr) {
      if (!row.connected && row.last_contact < stale_before) continue;
      state = GetOrCreateNode(row.node);
    }
    absl::MutexLock lock(&state->mu);
    if (state->forgotten || state->streams > 0) continue;
    state->served_by = row.replica;
    state->connected_elsewhere = row.connected;
    state->cluster_contact = row.last_contact;
    state->cluster_report = row.last_report;
    // The node's sockets are with that replica now.
    if (row.connected && state->sockets.has_base()) DropSockets(*state);
  }
}

void Engine::RestoreMemory(NodeState& state) {
  std::vector<StoredFinding> open;
  {
    absl::MutexLock lock(&state.mu);
    for (const auto& [id, tracked] : state.findings) {
      if (tracked.finding.status() == v1::OPEN && !tracked.memory.empty()) {
        open.push_back({tracked.finding, tracked.memory});
      }
    }
  }
  // Lock order: node -> history, so decoding happens between the two.
  std::vector<std::pair<uint64_t, SocketMemory>> restored;
  {
    absl::MutexLock lock(&history_mu_);
    for (const StoredFinding& stored : open) {
      if (auto memory = StoredMemory(stored, &history_)) {
        restored.push_back(*std::move(memory));
      }
    }
  }
  absl::MutexLock lock(&state.mu);
  state.memory.sockets.clear();
  for (auto& [fingerprint, memory] : restored) {
    state.memory.sockets[fingerprint] = std::move(memory);
  }
}

void Engine::WritePresence(const std::vector<NodePresence>& rows,
                           absl::Time now) {
  if (rows.empty()) return;
  // Best effort: a row not written now is written by the next refresh,
  // and meanwhile other replicas see an older contact time — they wait
  // longer before calling the node silent, never less.
  if (absl::Status stored = store_->WritePresence(rows, now); !stored.ok()) {
    GP_LOG_WARN("node presence not stored ({} node(s)): {}", rows.size(),
                stored.ToString());
  }
}

void Engine::RefreshPresence(absl::Time now) {
  std::vector<NodePresence> rows;
  std::vector<std::shared_ptr<NodeState>> written;
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    if (state->streams == 0 || now - state->presence_written < kPresenceRefresh)
      continue;
    // The open stream vouches for the node (keepalives), as it does for
    // this replica's own Tick: contact is now.
    rows.push_back(
        {state->name, options_.replica_name, true, now, state->last_report});
    written.push_back(state);
  }
  if (rows.empty()) return;
  if (absl::Status stored = store_->WritePresence(rows, now); !stored.ok()) {
    GP_LOG_WARN("node presence not stored ({} node(s)): {}", rows.size(),
                stored.ToString());
    return;
  }
  for (const std::shared_ptr<NodeState>& state : written) {
    absl::MutexLock lock(&state->mu);
    state->presence_written = now;
  }
}

void Engine::ResaveFindings(absl::Time now) {
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    if (state->streams == 0 || state->findings.empty()) continue;
    std::vector<StoredFinding> all;
    for (const auto& [id, tracked] : state->findings) {
      all.push_back({tracked.finding, tracked.memory});
    }
    absl::Status stored = store_->SaveFindings(all, now);
    store_health_.Record(StoreWrite::kIngest, stored, now);
    if (!stored.ok()) {
      findings_unsaved_ = true;
      GP_LOG_WARN("node {}: findings still in memory only: {}", state->name,
                  stored.ToString());
      return;
    }
    for (auto& [id, tracked] : state->findings) tracked.saved_at = now;
  }
}

bool Engine::shared() const { return store_->shared(); }

absl::Status Engine::CatchUp() { return CatchUpAfter(std::nullopt); }

absl::Status Engine::CatchUpAfter(std::optional<uint64_t> seen) {
  if (!shared()) return absl::OkStatus();
  absl::MutexLock serial(&catch_up_mu_);
  // A catch-up that started after the caller asked has read everything
  // committed before it asked: when a replica dies, its agents' Hellos
  // arrive here by the thousand, and one read answers them all.
  if (seen.has_value() && catch_ups_started_ > *seen) {
    absl::MutexLock lock(&readable_mu_);
    return unreadable_;
  }
  ++catch_ups_started_;
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<CommittedChanges> committed;
  {
    // Read and merged under the history lock: a WriteHistory's merge in
    // between would otherwise be overtaken by older rows read here.
    absl::MutexLock lock(&history_mu_);
    committed = store_->ReadCommitted();
    if (committed.ok()) MergeHistoryLocked(*committed, now);
  }
  {
    absl::MutexLock lock(&readable_mu_);
    if (!committed.ok() && unreadable_.ok()) unreadable_since_ = now;
    unreadable_ = committed.status();
  }
  if (!committed.ok()) return committed.status();
  // Findings are written only by the replica serving their node; only
  // CatchUp (serialised) reads them, so none overtakes a newer one.
  MergeFindings(std::move(committed->findings), now);
  MergePresence(std::move(committed->presence), now);
  RefreshPresence(now);
  // Back from an outage: what was kept in memory only is stored now.
  if (findings_unsaved_.exchange(false)) ResaveFindings(now);
  return absl::OkStatus();
}

absl::Status Engine::StoreReadable() const {
  absl::MutexLock lock(&readable_mu_);
  if (unreadable_.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "history store ", store_->location(), " unreachable since ",
      ghostpeer::FormatTime(unreadable_since_), ": ", unreadable_.message()));
}

EngineCounters Engine::Counters() const {
  EngineCounters copy;
  {
    absl::MutexLock lock(&counters_mu_);
    copy = counters_;
  }
  for (const std::shared_ptr<NodeState>& state : AllNodes()) {
    absl::MutexLock lock(&state->mu);
    if (state->streams > 0) ++copy.agents_connected;
    ++copy.nodes_known;
  }
  {
    absl::MutexLock lock(&socket_bytes_mu_);
    copy.socket_bytes_held = socket_bytes_held_;
  }
  absl::ReaderMutexLock lock(&history_mu_);
  copy.history_intervals = history_.interval_count();
  copy.history_addresses = history_.address_count();
  return copy;
}

}  // namespace ghostpeer::aggregator
