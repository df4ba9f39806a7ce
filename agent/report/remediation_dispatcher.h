// Remediation orders from the ingest stream, executed off the stream's
// reader thread, with their outcomes queued for the stream to send back.
//
// The stream's reader must never wait on the kernel (acks would stall and
// the stream would time out), so orders go through a bounded queue to one
// executor thread. Orders are deduplicated by order_id: the aggregator
// replays unanswered orders after a reconnect, and a replay must not act a
// second time; it gets the first outcome again instead.
#ifndef GHOSTPEER_AGENT_REPORT_REMEDIATION_DISPATCHER_H_
#define GHOSTPEER_AGENT_REPORT_REMEDIATION_DISPATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.pb.h"

namespace ghostpeer::agent {

struct RemediationDispatcherOptions {
  // Executes one order and returns its outcome (agent/sock_destroy.h
  // RemediationExecutor::Execute); called on the dispatcher's own thread.
  // Null: remediation is disabled and every order is answered REFUSED with
  // `refusal` at once.
  std::function<v1::RemediationOutcome(const v1::RemediationOrder&)> execute;
  std::string refusal = "agent started without --remediation";
  // Orders waiting for the executor; more are REFUSED "queue full" (and not
  // remembered, so a replay later can still act).
  size_t queue_capacity = 64;
  // Order ids remembered for deduplication, oldest forgotten first.
  size_t remembered_orders = 4096;
  // Outcomes waiting for a stream; the oldest are dropped past this (the
  // aggregator replays the order and gets the remembered outcome again).
  size_t outbox_capacity = 1024;
  const Clock* clock = Clock::Real();
};

// Process-lifetime counts of outcomes, for /metrics.
struct RemediationCounts {
  uint64_t destroyed = 0;
  uint64_t already_gone = 0;
  uint64_t refused = 0;
  uint64_t failed = 0;
  uint64_t would_destroy = 0;
  uint64_t replays = 0;  // orders seen again (answered, not acted on)
};

// The label value of an outcome kind in ghostpeer_*_remediations_total
// ("destroyed", "already_gone", "refused", "failed", "would_destroy";
// "unspecified" otherwise).
const char* RemediationOutcomeLabel(v1::RemediationOutcomeKind kind);

class RemediationDispatcher {
 public:
  // Starts the executor thread when `options.execute` is set.
  explicit RemediationDispatcher(RemediationDispatcherOptions options);
  // Stops the thread after the order in progress; queued orders are dropped
  // unanswered (the aggregator replays them to the next agent process).
  ~RemediationDispatcher();

  RemediationDispatcher(const RemediationDispatcher&) = delete;
  RemediationDispatcher& operator=(const RemediationDispatcher&) = delete;

  // What Hello says.
  bool enabled() const { return static_cast<bool>(options_.execute); }
  std::string refusal() const { return enabled() ? "" : options_.refusal; }

  // Called when an outcome is ready to send (the reporter wakes up). May be
  // called from any thread; `listener` must be cheap and not call back in.
  void SetListener(std::function<void()> listener);

  // Takes one order from the stream. Never blocks on execution. Thread-safe.
  void Submit(const v1::RemediationOrder& order);

  // Removes and returns the outcomes waiting to be sent, oldest first.
  std::vector<v1::RemediationOutcome> TakeOutcomes();

  RemediationCounts counts() const;

  // Blocks until no order is queued or executing (tests). Thread-safe.
  void WaitIdle();

 private:
  struct Entry {
    std::optional<v1::RemediationOutcome> outcome;  // unset while pending
  };

  void Loop();
  // Records `outcome` as the answer (counted once) and queues it to send.
  void Answer(const std::string& order_id, v1::RemediationOutcome outcome,
              bool remember) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remember(const std::string& order_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(v1::RemediationOutcome outcome) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::RemediationOutcome Refusal(const std::string& order_id,
                                 std::string detail) const;

  const RemediationDispatcherOptions options_;
  mutable absl::Mutex mu_;
  std::deque<v1::RemediationOrder> queue_ ABSL_GUARDED_BY(mu_);
  bool executing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Entry> known_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> known_order_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::RemediationOutcome> outbox_ ABSL_GUARDED_BY(mu_);
  RemediationCounts counts_ ABSL_GUARDED_BY(mu_);
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_REPORT_REMEDIATION_DISPATCHER_H_
