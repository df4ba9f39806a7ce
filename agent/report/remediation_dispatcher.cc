#include "agent/report/remediation_dispatcher.h"

#include "common/logging.h"
#include "common/utf8.h"

namespace ghostpeer::agent {
namespace {

// Order ids longer than this are not trusted as keys (sock_destroy.h has
// the same bound and refuses such orders).
constexpr size_t kMaxOrderIdLength = 128;

}  // namespace

const char* RemediationOutcomeLabel(v1::RemediationOutcomeKind kind) {
  switch (kind) {
    case v1::REMEDIATION_DESTROYED:
      return "destroyed";
    case v1::REMEDIATION_ALREADY_GONE:
      return "already_gone";
    case v1::REMEDIATION_REFUSED:
      return "refused";
    case v1::REMEDIATION_FAILED:
      return "failed";
    case v1::REMEDIATION_WOULD_DESTROY:
      return "would_destroy";
    default:
      return "unspecified";
  }
}

RemediationDispatcher::RemediationDispatcher(
    RemediationDispatcherOptions options)
    : options_(std::move(options)) {
  if (enabled()) thread_ = std::thread([this] { Loop(); });
}

RemediationDispatcher::~RemediationDispatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RemediationDispatcher::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

v1::RemediationOutcome RemediationDispatcher::Refusal(
    const std::string& order_id, std::string detail) const {
  v1::RemediationOutcome outcome;
  outcome.set_order_id(order_id);
  outcome.set_outcome(v1::REMEDIATION_REFUSED);
  outcome.set_detail(std::move(detail));
  *outcome.mutable_at() = ToProto(options_.clock->Now());
  return outcome;
}

void RemediationDispatcher::Submit(const v1::RemediationOrder& order) {
  // The id is echoed back: cut and repaired so a hostile one cannot make
  // our answer invalid or our memory large.
  const std::string id =
      RepairUtf8(order.order_id().substr(0, kMaxOrderIdLength));
  GP_LOG_INFO("remediation order {} for finding {} (socket {}:{} -> {}:{}{})",
              EscapeForLog(id, 128), EscapeForLog(order.finding_id(), 128),
              EscapeForLog(order.socket().local_ip(), 64),
              order.socket().local_port(),
              EscapeForLog(order.socket().remote_ip(), 64),
              order.socket().remote_port(), order.dry_run() ? ", dry run" : "");
  absl::MutexLock lock(&mu_);
  if (id.empty() || id != order.order_id()) {
    // No usable key: answered, never remembered (nothing to match a replay).
    Answer(id, Refusal(id, "malformed order_id"), /*remember=*/false);
    return;
  }
  if (auto it = known_.find(id); it != known_.end()) {
    ++counts_.replays;
    // Pending: its outcome comes when done. Answered: the first answer may
    // have been lost with the last stream, so send it again.
    if (it->second.outcome.has_value()) Send(*it->second.outcome);
    return;
  }
  if (!enabled()) {
    Answer(id, Refusal(id, options_.refusal), /*remember=*/true);
    return;
  }
  if (queue_.size() >= options_.queue_capacity) {
    // Not remembered: a replay once the queue has drained may still act.
    Answer(id, Refusal(id, "queue full"), /*remember=*/false);
    return;
  }
  Remember(id);
  queue_.push_back(order);
}

void RemediationDispatcher::Remember(const std::string& order_id) {
  known_.try_emplace(order_id);
  known_order_.push_back(order_id);
  while (known_order_.size() > options_.remembered_orders) {
    // Never forget an order still pending: its outcome must find its entry.
    auto oldest = known_.find(known_order_.front());
    if (oldest != known_.end() && !oldest->second.outcome.has_value()) break;
    if (oldest != known_.end()) known_.erase(oldest);
    known_order_.pop_front();
  }
}

void RemediationDispatcher::Answer(const std::string& order_id,
                                   v1::RemediationOutcome outcome,
                                   bool remember) {
  switch (outcome.outcome()) {
    case v1::REMEDIATION_DESTROYED:
      ++counts_.destroyed;
      break;
    case v1::REMEDIATION_ALREADY_GONE:
      ++counts_.already_gone;
      break;
    case v1::REMEDIATION_REFUSED:
      ++counts_.refused;
      break;
    case v1::REMEDIATION_FAILED:
      ++counts_.failed;
      break;
    case v1::REMEDIATION_WOULD_DESTROY:
      ++counts_.would_destroy;
      break;
    default:
      break;
  }
  GP_LOG_INFO("remediation order {}: {} ({})", EscapeForLog(order_id, 128),
              RemediationOutcomeLabel(outcome.outcome()),
              EscapeForLog(outcome.detail(), 512));
  if (remember) {
    if (known_.find(order_id) == known_.end()) Remember(order_id);
    if (auto it = known_.find(order_id); it != known_.end()) {
      it->second.outcome = outcome;
    }
  }
  Send(std::move(outcome));
}

void RemediationDispatcher::Send(v1::RemediationOutcome outcome) {
  outbox_.push_back(std::move(outcome));
  while (outbox_.size() > options_.outbox_capacity) outbox_.pop_front();
  if (listener_) listener_();
}

std::vector<v1::RemediationOutcome> RemediationDispatcher::TakeOutcomes() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::RemediationOutcome> out(
      std::make_move_iterator(outbox_.begin()),
      std::make_move_iterator(outbox_.end()));
  outbox_.clear();
  return out;
}

RemediationCounts RemediationDispatcher::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void RemediationDispatcher::WaitIdle() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return (queue_.empty() && !executing_) || stopping_;
  };
  mu_.Await(absl::Condition(&idle));
}

void RemediationDispatcher::Loop() {
  while (true) {
    v1::RemediationOrder order;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      order = std::move(queue_.front());
      queue_.pop_front();
      executing_ = true;
    }
    v1::RemediationOutcome outcome = options_.execute(order);
    // The executor echoes the id; force it, the key must match ours.
    outcome.set_order_id(order.order_id());
    absl::MutexLock lock(&mu_);
    executing_ = false;
    Answer(order.order_id(), std::move(outcome), /*remember=*/true);
  }
}

}  // namespace ghostpeer::agent
