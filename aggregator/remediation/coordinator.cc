#include "aggregator/remediation/coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/utf8.h"

namespace ghostpeer::aggregator::remediation {
namespace {

std::string Clock24(const google::protobuf::Timestamp& at) {
  return absl::FormatTime("%H:%M:%S", FromProto(at), absl::UTCTimeZone());
}

// "(policy, auto)", "(manual: alice, dry-run)".
std::string Who(const v1::Remediation& record) {
  return absl::StrCat("(", record.requested_by(), ", ", ModeName(record.mode()),
                      ")");
}

int64_t EpisodeOf(const v1::Finding& finding) {
  return finding.has_first_seen()
             ? absl::ToUnixMicros(FromProto(finding.first_seen()))
             : 0;
}

std::optional<RemediationMetric> MetricOf(v1::RemediationOutcomeKind kind) {
  switch (kind) {
    case v1::REMEDIATION_DESTROYED:
      return RemediationMetric::kDestroyed;
    case v1::REMEDIATION_ALREADY_GONE:
      return RemediationMetric::kAlreadyGone;
    case v1::REMEDIATION_REFUSED:
      return RemediationMetric::kRefused;
    case v1::REMEDIATION_FAILED:
      return RemediationMetric::kFailed;
    case v1::REMEDIATION_WOULD_DESTROY:
      return RemediationMetric::kWouldDestroy;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string Summarize(const StoredRemediation& stored) {
  const v1::Remediation& record = stored.record;
  if (record.has_outcome()) {
    const v1::RemediationOutcome& outcome = record.outcome();
    const std::string at = Clock24(record.outcome_received_at());
    // The agent's detail is hostile text: validated and bounded already,
    // and cut again here to keep the summary one short line.
    const std::string detail = EscapeForLog(outcome.detail(), 200);
    switch (outcome.outcome()) {
      case v1::REMEDIATION_DESTROYED:
        return absl::StrCat("destroyed the socket at ", at, " ", Who(record),
                            ": the client's next write fails");
      case v1::REMEDIATION_ALREADY_GONE:
        return absl::StrCat("the socket was already gone at ", at, " ",
                            Who(record));
      case v1::REMEDIATION_REFUSED:
        return absl::StrCat("node ", record.node(), "'s agent refused at ", at,
                            " ", Who(record), ": ", detail);
      case v1::REMEDIATION_FAILED:
        return absl::StrCat("destroying failed at ", at, " ", Who(record), ": ",
                            detail, " (errno ", outcome.error_number(), ")");
      case v1::REMEDIATION_WOULD_DESTROY:
        return absl::StrCat("would destroy: the agent's re-check passed at ",
                            at, " ", Who(record), ", nothing touched");
      default:
        break;
    }
  }
  const std::string at = Clock24(record.decided_at());
  switch (record.decision()) {
    case v1::REMEDIATION_DECISION_ORDERED:
      if (!stored.awaiting) {
        return absl::StrCat("ordered at ", at, " ", Who(record),
                            ", not carried out: ", record.reason());
      }
      // Not whether it was sent yet: each change of this line is a
      // REMEDIATED notification, and a send is no news for people.
      return absl::StrCat("ordered the socket destroyed at ", at, " ",
                          Who(record), "; waiting for node ", record.node(),
                          "'s agent");
    case v1::REMEDIATION_DECISION_WOULD_DESTROY:
      return absl::StrCat("would destroy at ", at, " ", Who(record), ": ",
                          record.reason());
    case v1::REMEDIATION_DECISION_RATE_LIMITED:
      return absl::StrCat("not remediated at ", at, " ", Who(record),
                          ": rate limit, ", record.reason());
    default:
      return absl::StrCat("not remediated ", Who(record), ": ",
                          record.reason());
  }
}

v1::RemediationOrder OrderFor(const v1::Remediation& record, bool dry_run,
                              absl::Time now) {
  const v1::SocketRecord& socket = record.socket();
  v1::RemediationOrder order;
  order.set_order_id(record.id());
  order.set_finding_id(record.finding_id());
  order.set_netns_inode(socket.netns_inode());
  v1::SocketKey* key = order.mutable_socket();
  key->set_netns_inode(socket.netns_inode());
  key->set_local_ip(socket.local_ip());
  key->set_local_port(socket.local_port());
  key->set_remote_ip(socket.remote_ip());
  key->set_remote_port(socket.remote_port());
  key->set_inode(socket.inode());
  key->set_protocol(socket.protocol());
  order.set_cookie(socket.cookie());
  order.set_peer_ip(record.peer_ip());
  order.set_dry_run(dry_run);
  *order.mutable_issued_at() = ToProto(now);
  return order;
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorOptions options, Engine* engine,
    std::unique_ptr<RecordStore> store) {
  if (engine == nullptr || store == nullptr || options.clock == nullptr) {
    return absl::InvalidArgumentError(
        "remediation: engine, store and clock are required");
  }
  if (options.mode == v1::REMEDIATION_MODE_UNSPECIFIED) {
    return absl::InvalidArgumentError("remediation: mode unspecified");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("remediation: max_attempts must be >= 1");
  }
  absl::StatusOr<std::vector<StoredRemediation>> latest =
      store->LatestPerFinding();
  if (!latest.ok()) return latest.status();
  std::unique_ptr<Coordinator> coordinator(
      new Coordinator(std::move(options), engine, std::move(store)));
  {
    absl::MutexLock lock(&coordinator->mu_);
    for (const StoredRemediation& stored : *latest) {
      coordinator->latest_[stored.record.finding_id()] = LatestOf(stored);
    }
  }
  coordinator->Subscribe();
  return coordinator;
}

Coordinator::Latest Coordinator::LatestOf(const StoredRemediation& stored) {
  const v1::Remediation& record = stored.record;
  // The guard a DECLINED record was written for is not stored; the reason
  // text stands in (equal texts, equal guard).
  return {stored.episode_us, record.finding_kind(),          record.decision(),
          record.reason(),   FromProto(record.decided_at()), record.id()};
}

Coordinator::Coordinator(CoordinatorOptions options, Engine* engine,
                         std::unique_ptr<RecordStore> store)
    : options_(std::move(options)),
      engine_(engine),
      store_(std::move(store)),
      hook_(std::make_shared<ListenerHook>()),
      limiter_(options_.rate_limits) {
  hook_->owner = this;
}

Coordinator::~Coordinator() { Stop(); }

void Coordinator::Attach(AgentChannel* agents) {
  absl::MutexLock lock(&mu_);
  if (agents_ == nullptr) agents_ = agents;
}

void Coordinator::Subscribe() {
  absl::MutexLock lock(&mu_);
  // The Engine may call a listener once more after Unsubscribe returns:
  // it reaches the coordinator only through the hook Stop clears.
  std::shared_ptr<ListenerHook> hook = hook_;
  subscription_ = engine_->Subscribe([hook](const v1::FindingEvent& event) {
    // On the ingesting thread with the node's lock held: queue only.
    if (event.type() != v1::OPENED && event.type() != v1::UPDATED) return;
    if (event.finding().status() != v1::OPEN) return;
    absl::MutexLock lock(&hook->mu);
    if (hook->owner == nullptr) return;
    Event queued;
    queued.type = Event::Type::kFinding;
    queued.node = event.finding().socket().node();
    queued.finding = event.finding();
    hook->owner->Enqueue(std::move(queued));
  });
}

void Coordinator::Start(AgentChannel* agents) {
  Attach(agents);
  absl::MutexLock lock(&queue_mu_);
  if (worker_.joinable() || stopping_) return;
  worker_ = std::thread([this] {
    absl::Time next_tick = options_.clock->Now();
    while (true) {
      {
        absl::MutexLock queue_lock(&queue_mu_);
        queue_mu_.AwaitWithTimeout(
            absl::Condition(this, &Coordinator::WorkWaiting),
            options_.tick_every);
        if (stopping_) return;
      }
      RunPending();
      if (options_.clock->Now() >= next_tick) {
        if (absl::Status s = Tick(); !s.ok()) {
          GP_LOG_WARN("remediation: {}", s.ToString());
        }
        next_tick = options_.clock->Now() + options_.tick_every;
      }
    }
  });
}

void Coordinator::Stop() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
  absl::MutexLock lock(&mu_);
  if (subscription_ != 0) {
    engine_->Unsubscribe(subscription_);
    subscription_ = 0;
  }
  absl::MutexLock hook_lock(&hook_->mu);
  hook_->owner = nullptr;
}

void Coordinator::Enqueue(Event event) {
  absl::MutexLock lock(&queue_mu_);
  if (event.type == Event::Type::kFinding &&
      queue_.size() >= options_.max_queue) {
    ++dropped_events_;
    return;
  }
  queue_.push_back(std::move(event));
}

void Coordinator::NodeConnected(const std::string& node,
                                const v1::Hello& hello) {
  (void)hello;  // the Engine keeps its remediation fields (NodeFacts)
  Event event;
  event.type = Event::Type::kConnected;
  event.node = node;
  Enqueue(std::move(event));
}

void Coordinator::OutcomeReceived(const std::string& node,
                                  const v1::RemediationOutcome& outcome) {
  Event event;
  event.type = Event::Type::kOutcome;
  event.node = node;
  event.outcome = outcome;
  Enqueue(std::move(event));
}

uint64_t Coordinator::dropped_events() const {
  absl::MutexLock lock(&queue_mu_);
  return dropped_events_;
}

uint64_t Coordinator::foreign_outcomes() const {
  absl::MutexLock lock(&queue_mu_);
  return foreign_outcomes_;
}

void Coordinator::RunPending() {
  absl::MutexLock lock(&mu_);
  while (true) {
    Event event;
    {
      absl::MutexLock queue_lock(&queue_mu_);
      if (queue_.empty()) return;
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    Handle(event);
  }
}

void Coordinator::Handle(const Event& event) {
  switch (event.type) {
    case Event::Type::kFinding: {
      absl::StatusOr<std::optional<StoredRemediation>> decided = DecideLocked(
          event.finding, /*manual=*/false, /*dry_run=*/false, "policy");
      if (!decided.ok()) {
        GP_LOG_WARN("remediation: finding {}: {}", event.finding.id(),
                    decided.status().ToString());
      }
      return;
    }
    case Event::Type::kConnected: {
      // Orders the node's previous stream (or process) did not answer.
      absl::StatusOr<std::vector<StoredRemediation>> awaiting =
          store_->Awaiting();
      if (!awaiting.ok()) {
        GP_LOG_WARN("remediation: {}", awaiting.status().ToString());
        return;
      }
      const absl::Time now = options_.clock->Now();
      for (StoredRemediation& stored : *awaiting) {
        if (stored.record.node() != event.node) continue;
        if (static_cast<int>(stored.record.attempts()) >=
            options_.max_attempts) {
          continue;  // Tick gives it up
        }
        SendLocked(stored, now);
      }
      return;
    }
    case Event::Type::kOutcome:
      AcceptOutcomeLocked(event.node, event.outcome);
      return;
  }
}

absl::StatusOr<std::optional<StoredRemediation>> Coordinator::DecideLocked(
    const v1::Finding& finding, bool manual, bool dry_run,
    const std::string& requested_by) {
  // Off: the policy decides nothing (a record per finding saying so would
  // be noise); a person's request is still answered, and recorded.
  if (!manual && options_.mode == v1::REMEDIATION_MODE_OFF) {
    return std::nullopt;
  }
  const absl::Time now = options_.clock->Now();
  const std::string& node = finding.socket().node();
  const NodeReportFacts facts = engine_->NodeFacts(node);
  PolicyInput input;
  input.finding = &finding;
  input.node.known = facts.known;
  input.node.remediation_enabled = facts.remediation_enabled;
  input.node.remediation_refusal = facts.remediation_refusal;
  input.node.last_report = facts.last_report;
  input.node.report_interval = facts.report_interval;
  input.now = now;
  input.aggregator_mode = options_.mode;
  input.service_label =
      engine_->ServiceRemediationLabel(finding.socket().service());
  input.manual = manual;
  input.dry_run = dry_run;
  const PolicyDecision judged = Decide(input);
  const int64_t episode = EpisodeOf(finding);
  // The rate limit is asked once per call, whatever the races below.
  std::optional<std::optional<std::string>> limited;
  // Each lost race brings the store's newest record: bounded, since a race
  // is lost only to a decision another replica made meanwhile.
  constexpr int kMaxRaces = 4;
  for (int race = 0;; ++race) {
    PolicyDecision decision = judged;
    // 1. Deduplicate what the policy decides on its own: one decision per
    //    situation (episode and kind); a new one only when the verdict
    //    changes (a guard that refused no longer does, another refuses).
    //    An order is never repeated: the agent acted or will answer. A
    //    rate-limited finding is tried again (Tick) until the limit lets
    //    it.
    auto latest = latest_.find(finding.id());
    const bool same_situation = latest != latest_.end() &&
                                latest->second.episode_us == episode &&
                                latest->second.kind == finding.kind();
    if (!manual && same_situation) {
      const Latest& previous = latest->second;
      if (previous.decision == v1::REMEDIATION_DECISION_ORDERED) {
        return std::nullopt;
      }
      if (previous.decision == decision.decision &&
          (decision.decision != v1::REMEDIATION_DECISION_DECLINED ||
           previous.guard == decision.guard ||
           previous.guard == decision.reason)) {
        return std::nullopt;
      }
    }
    // 2. Rate limits, on what would really be destroyed.
    if (decision.decision == v1::REMEDIATION_DECISION_ORDERED) {
      if (!limited.has_value()) limited = limiter_.TryTake(node, now);
      if (limited->has_value()) {
        decision.decision = v1::REMEDIATION_DECISION_RATE_LIMITED;
        decision.guard = "rate_limited";
        decision.reason = **limited;
        if (!manual && same_situation &&
            latest->second.decision == v1::REMEDIATION_DECISION_RATE_LIMITED) {
          return std::nullopt;  // still limited: recorded once
        }
      }
    }
    // 3. The record.
    StoredRemediation stored;
    v1::Remediation& record = stored.record;
    record.set_id(absl::StrCat(finding.id(), "-", absl::ToUnixMicros(now), "-",
                               ++next_id_));
    record.set_finding_id(finding.id());
    record.set_finding_kind(finding.kind());
    record.set_node(node);
    *record.mutable_socket() = finding.socket();
    record.set_peer_ip(decision.peer_ip);
    record.set_mode(decision.mode);
    record.set_requested_by(requested_by);
    record.set_decision(decision.decision);
    record.set_reason(decision.reason);
    *record.mutable_decided_at() = ToProto(now);
    record.set_service(finding.socket().service());
    stored.episode_us = episode;
    stored.dry_run_order = decision.dry_run_order;
    stored.awaiting = decision.decision == v1::REMEDIATION_DECISION_ORDERED ||
                      decision.dry_run_order;
    // Stored before anything is sent: an order nobody recorded could be
    // neither re-sent nor matched with its outcome.
    absl::StatusOr<std::optional<StoredRemediation>> lost = store_->AddDecision(
        stored,
        latest == latest_.end() ? std::string() : latest->second.record_id);
    if (!lost.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "the decision could not be stored: ", lost.status().message()));
    }
    if (lost->has_value()) {
      // Another replica decided about this finding since this one last
      // knew: judge again from its decision.
      latest_[finding.id()] = LatestOf(**lost);
      if (race + 1 < kMaxRaces) continue;
      return absl::AbortedError(
          "other replicas kept deciding about it meanwhile; judged again at "
          "its next change");
    }
    latest_[finding.id()] = {
        episode, finding.kind(), decision.decision, decision.guard,
        now,     record.id()};
    Count(stored);
    // Reasons quote names anyone on a node may have chosen (services,
    // containers): escaped for the log like everything agents send.
    GP_LOG_INFO("remediation: finding {} on node {} ({}): {} {}: {}",
                finding.id(), node, EscapeForLog(requested_by, 256),
                v1::RemediationDecision_Name(decision.decision),
                ModeName(decision.mode), EscapeForLog(decision.reason, 1024));
    if (stored.awaiting) SendLocked(stored, now);
    (void)SaveLocked(stored);
    return stored;
  }
}

void Coordinator::SendLocked(StoredRemediation& stored, absl::Time now) {
  if (agents_ == nullptr) return;
  v1::Remediation& record = stored.record;
  // An order for a finding that resolved meanwhile (the socket closed, the
  // peer came back) would only be refused by the agent's re-check.
  std::optional<v1::Finding> finding =
      engine_->FindFinding(record.finding_id());
  if (!finding.has_value() || finding->status() != v1::OPEN ||
      EpisodeOf(*finding) != stored.episode_us) {
    stored.awaiting = false;
    record.set_reason(absl::StrCat(record.reason(),
                                   "; not sent: the finding resolved first"));
    (void)SaveLocked(stored);
    return;
  }
  v1::AggregatorMessage message;
  *message.mutable_remediation_order() =
      OrderFor(record, stored.dry_run_order, now);
  if (!agents_->SendToNode(record.node(), message)) return;
  record.set_attempts(record.attempts() + 1);
  *record.mutable_last_sent_at() = ToProto(now);
  (void)SaveLocked(stored);
}

void Coordinator::AcceptOutcomeLocked(const std::string& node,
                                      const v1::RemediationOutcome& outcome) {
  absl::StatusOr<std::optional<StoredRemediation>> found =
      store_->Get(outcome.order_id());
  if (!found.ok()) {
    GP_LOG_WARN("remediation: {}", found.status().ToString());
    return;
  }
  // Hostile input: an outcome counts only for an order this aggregator
  // issued to this very node, once.
  if (!found->has_value() || (*found)->record.node() != node ||
      (*found)->record.attempts() == 0) {
    GP_LOG_WARN(
        "remediation: node {} answered order {}, which was never sent to it; "
        "ignored",
        node, EscapeForLog(outcome.order_id(), 128));
    absl::MutexLock lock(&queue_mu_);
    ++foreign_outcomes_;
    return;
  }
  StoredRemediation& stored = **found;
  if (stored.record.has_outcome()) return;  // a replay's answer again
  *stored.record.mutable_outcome() = outcome;
  *stored.record.mutable_outcome_received_at() = ToProto(options_.clock->Now());
  stored.awaiting = false;
  Count(stored);
  GP_LOG_INFO("remediation: order {} on node {}: {}", stored.record.id(), node,
              v1::RemediationOutcomeKind_Name(outcome.outcome()));
  (void)SaveLocked(stored);
}

absl::Status Coordinator::SaveLocked(const StoredRemediation& stored) {
  absl::Status saved = store_->Put(stored);
  if (!saved.ok()) {
    GP_LOG_WARN("remediation: record {}: {}", stored.record.id(),
                EscapeForLog(saved.ToString(), 1024));
  }
  // The finding may have resolved and been forgotten: nothing to tell.
  (void)engine_->SetFindingRemediation(
      stored.record.node(), stored.record.finding_id(), Summarize(stored));
  return saved;
}

void Coordinator::Count(const StoredRemediation& stored) const {
  const v1::Remediation& record = stored.record;
  std::optional<RemediationMetric> metric;
  if (record.has_outcome()) {
    metric = MetricOf(record.outcome().outcome());
  } else if (record.decision() == v1::REMEDIATION_DECISION_DECLINED) {
    metric = RemediationMetric::kDeclined;
  } else if (record.decision() == v1::REMEDIATION_DECISION_RATE_LIMITED) {
    metric = RemediationMetric::kRateLimited;
  } else if (record.decision() == v1::REMEDIATION_DECISION_WOULD_DESTROY &&
             !stored.dry_run_order) {
    // A dry-run decision (nothing sent). A person's dry run counts when the
    // agent answers.
    metric = RemediationMetric::kWouldDestroy;
  }
  if (metric.has_value()) engine_->CountRemediation(*metric, record.mode());
}

absl::Status Coordinator::Tick() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  absl::Status result;
  absl::StatusOr<std::vector<StoredRemediation>> awaiting = store_->Awaiting();
  if (!awaiting.ok()) {
    result = awaiting.status();
  } else {
    for (StoredRemediation& stored : *awaiting) {
      v1::Remediation& record = stored.record;
      const bool due =
          record.attempts() == 0 ||
          FromProto(record.last_sent_at()) + options_.resend_after <= now;
      if (!due) continue;
      if (static_cast<int>(record.attempts()) >= options_.max_attempts) {
        stored.awaiting = false;
        record.set_reason(absl::StrCat(record.reason(), "; no answer after ",
                                       record.attempts(), " sends"));
        (void)SaveLocked(stored);
        continue;
      }
      SendLocked(stored, now);
    }
  }
  // Findings the rate limit held back: judged again while they are open.
  std::vector<std::string> limited;
  for (const auto& [id, latest] : latest_) {
    if (latest.decision == v1::REMEDIATION_DECISION_RATE_LIMITED) {
      limited.push_back(id);
    }
  }
  for (const std::string& id : limited) {
    std::optional<v1::Finding> finding = engine_->FindFinding(id);
    if (!finding.has_value() || finding->status() != v1::OPEN) continue;
    absl::StatusOr<std::optional<StoredRemediation>> decided =
        DecideLocked(*finding, false, false, "policy");
    if (!decided.ok() && result.ok()) result = decided.status();
  }
  // Retention: the records, and the memory of findings decided before it.
  if (now - last_purge_ < absl::Minutes(1)) return result;
  last_purge_ = now;
  const absl::Time horizon = now - options_.retention;
  if (absl::StatusOr<int64_t> purged = store_->Purge(horizon); !purged.ok()) {
    if (result.ok()) result = purged.status();
  }
  absl::erase_if(latest_, [horizon](const auto& entry) {
    return entry.second.decided_at < horizon;
  });
  return result;
}

absl::StatusOr<v1::Remediation> Coordinator::Remediate(
    const std::string& finding_id, bool dry_run,
    const std::string& requested_by) {
  std::optional<v1::Finding> finding = engine_->FindFinding(finding_id);
  if (!finding.has_value()) {
    return absl::NotFoundError(absl::StrCat("no finding ", finding_id));
  }
  absl::MutexLock lock(&mu_);
  // A person asking again while an order is out gets that order: one
  // socket is destroyed once.
  if (!dry_run) {
    absl::StatusOr<std::vector<StoredRemediation>> pending =
        store_->List(finding_id, "", 1);
    if (pending.ok() && !pending->empty() && pending->front().awaiting &&
        pending->front().record.decision() ==
            v1::REMEDIATION_DECISION_ORDERED) {
      return pending->front().record;
    }
  }
  absl::StatusOr<std::optional<StoredRemediation>> decided =
      DecideLocked(*finding, /*manual=*/true, dry_run,
                   requested_by.empty() ? "manual" : requested_by);
  if (!decided.ok()) return decided.status();
  if (!decided->has_value()) {
    return absl::InternalError("a person's request was deduplicated");
  }
  const v1::Remediation& record = (*decided)->record;
  switch (record.decision()) {
    case v1::REMEDIATION_DECISION_DECLINED:
      return absl::FailedPreconditionError(record.reason());
    case v1::REMEDIATION_DECISION_RATE_LIMITED:
      return absl::ResourceExhaustedError(
          absl::StrCat("rate limit: ", record.reason()));
    default:
      return record;
  }
}

absl::StatusOr<std::vector<v1::Remediation>> Coordinator::List(
    const v1::ListRemediationsRequest& request) const {
  const uint32_t limit = request.limit() == 0
                             ? options_.max_list
                             : std::min(request.limit(), options_.max_list);
  absl::StatusOr<std::vector<StoredRemediation>> found =
      store_->List(request.finding_id(), request.node(), limit);
  if (!found.ok()) return found.status();
  std::vector<v1::Remediation> out;
  out.reserve(found->size());
  for (StoredRemediation& stored : *found) {
    out.push_back(std::move(stored.record));
  }
  return out;
}

}  // namespace ghostpeer::aggregator::remediation
