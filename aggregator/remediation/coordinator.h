// The aggregator's remediation (issue 11): judges findings as they change
// (policy.h), applies the rate limits (rate_limiter.h), records every
// decision and outcome (record_store.h), sends RemediationOrders on the
// client node's ingest stream (AgentChannel), re-sends unanswered ones, and
// tells the finding what was done (Finding.remediation, announced UPDATED
// so alerts, webhooks and watchers hear it).
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_COORDINATOR_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_COORDINATOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "aggregator/ingest_hooks.h"
#include "aggregator/remediation/policy.h"
#include "aggregator/remediation/rate_limiter.h"
#include "aggregator/remediation/record_store.h"
#include "aggregator/remediation_api.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::remediation {

struct CoordinatorOptions {
  // --remediation: the default for every service without a valid label;
  // OFF switches labels off too.
  v1::RemediationMode mode = v1::REMEDIATION_MODE_DRY_RUN;
  RateLimits rate_limits;
  // An order unanswered this long is sent again (the agent answers a
  // replayed order id without acting twice), up to max_attempts sends;
  // after the last one and another resend_after, it is given up.
  absl::Duration resend_after = absl::Seconds(30);
  int max_attempts = 3;
  // Records decided longer ago are purged (the Engine's --retention).
  absl::Duration retention = absl::Hours(24 * 7);
  // ListRemediations answers at most this many (request.limit lower).
  uint32_t max_list = 1000;
  // Finding changes, hellos and outcomes waiting for the worker; past this
  // the newest finding changes are dropped (judged at their next change)
  // and counted. Outcomes and hellos are never dropped: they are few.
  size_t max_queue = 100000;
  // How often the worker runs Tick.
  absl::Duration tick_every = absl::Seconds(1);
  // Not owned; must outlive the coordinator.
  const Clock* clock = Clock::Real();
};

// Thread-safe. Locks: the coordinator's own (decisions, taken first), then
// the Engine's and the store's; its event queue is a leaf, so the Engine's
// listener and the Ingest service's callbacks only queue.
class Coordinator final : public RemediationApi, public IngestObserver {
 public:
  // Loads what was decided (the newest record of each finding) from
  // `store`, so a restart neither repeats decisions nor forgets awaited
  // orders, and subscribes to the Engine's finding changes at once (they
  // queue until Attach/Start: none is missed while the server starts).
  // `engine` must outlive the coordinator. Errors: the store's;
  // InvalidArgument for a null engine, store or clock, an UNSPECIFIED
  // mode, or max_attempts < 1.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(
      CoordinatorOptions options, Engine* engine,
      std::unique_ptr<RecordStore> store);
  ~Coordinator() override;
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Sends orders through `agents` from now on (which must outlive the
  // coordinator, or Stop). Once; until then decisions are recorded and
  // their orders wait (Tick, or the node's next hello, sends them).
  void Attach(AgentChannel* agents);
  // Attach, then a worker thread that runs RunPending as events arrive and
  // Tick every tick_every.
  void Start(AgentChannel* agents);
  // Stops the worker and unsubscribes. Idempotent; the destructor calls it.
  void Stop();

  // Handles every queued event now (finding changes, hellos, outcomes), on
  // the caller's thread. The worker calls it; tests call it to be sure.
  void RunPending();
  // Sends orders that are due (never sent, or unanswered for
  // resend_after), gives up orders past max_attempts, retries findings the
  // rate limit held back, and purges records past retention. Returns the
  // store's error, if any (the rest still ran).
  absl::Status Tick();

  // RemediationApi.
  absl::StatusOr<v1::Remediation> Remediate(
      const std::string& finding_id, bool dry_run,
      const std::string& requested_by) override;
  absl::StatusOr<std::vector<v1::Remediation>> List(
      const v1::ListRemediationsRequest& request) const override;

  // IngestObserver: queue only.
  void NodeConnected(const std::string& node, const v1::Hello& hello) override;
  void OutcomeReceived(const std::string& node,
                       const v1::RemediationOutcome& outcome) override;

  // Events dropped because the queue was full; outcomes ignored because
  // their order was unknown or another node's.
  uint64_t dropped_events() const;
  uint64_t foreign_outcomes() const;

 private:
  struct Event {
    enum class Type { kFinding, kConnected, kOutcome } type;
    std::string node;
    v1::Finding finding;             // kFinding
    v1::RemediationOutcome outcome;  // kOutcome
  };
  // The newest decision about a finding, for deduplication.
  struct Latest {
    int64_t episode_us = 0;
    v1::FindingKind kind = v1::FINDING_KIND_UNSPECIFIED;
    v1::RemediationDecision decision = v1::REMEDIATION_DECISION_UNSPECIFIED;
    std::string guard;
    absl::Time decided_at;
    // The record: a new decision follows it (RecordStore::AddDecision).
    std::string record_id;
  };
  static Latest LatestOf(const StoredRemediation& stored);

  Coordinator(CoordinatorOptions options, Engine* engine,
              std::unique_ptr<RecordStore> store);
  // Queues the Engine's finding changes (Create).
  void Subscribe();
  void Enqueue(Event event);
  // For the worker: stopping, or events queued.
  bool WorkWaiting() const ABSL_SHARED_LOCKS_REQUIRED(queue_mu_) {
    return stopping_ || !queue_.empty();
  }
  void Handle(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Judges `finding` and records the decision (sends the order, tells the
  // finding). nullopt when the policy's decision repeats the latest one
  // for this situation (nothing recorded). Unavailable when the record
  // could not be stored (then nothing was sent). With replicas sharing the
  // store, the latest decision is the store's: one this replica did not
  // know of (another replica's, before a failover) makes it judge again
  // from that one, so an order is never repeated across replicas; Aborted
  // when that kept happening.
  absl::StatusOr<std::optional<StoredRemediation>> DecideLocked(
      const v1::Finding& finding, bool manual, bool dry_run,
      const std::string& requested_by) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the order of `stored` if its node has a stream; records the send.
  void SendLocked(StoredRemediation& stored, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AcceptOutcomeLocked(const std::string& node,
                           const v1::RemediationOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `stored` and sets its finding's summary; logs a store error.
  absl::Status SaveLocked(const StoredRemediation& stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Count(const StoredRemediation& stored) const;

  const CoordinatorOptions options_;
  Engine* const engine_;
  const std::unique_ptr<RecordStore> store_;
  // What the Engine's listener holds: the coordinator until Stop.
  struct ListenerHook {
    absl::Mutex mu;  // taken before queue_mu_
    Coordinator* owner ABSL_GUARDED_BY(mu) = nullptr;
  };
  const std::shared_ptr<ListenerHook> hook_;

  mutable absl::Mutex mu_;
  AgentChannel* agents_ ABSL_GUARDED_BY(mu_) = nullptr;
  int subscription_ ABSL_GUARDED_BY(mu_) = 0;
  RateLimiter limiter_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Latest> latest_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Tick purges at most once a minute: retention is days.
  absl::Time last_purge_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  mutable absl::Mutex queue_mu_;  // a leaf
  std::deque<Event> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  uint64_t dropped_events_ ABSL_GUARDED_BY(queue_mu_) = 0;
  uint64_t foreign_outcomes_ ABSL_GUARDED_BY(queue_mu_) = 0;

  std::thread worker_;
};

// The one-line summary of a record for Finding.remediation, times in UTC:
// "destroyed the socket at 12:03:09 (policy, auto): the client's next
// write fails", "would destroy at 12:03:09 ...", "not remediated: <reason>",
// ...; an order no longer awaited and never answered (given up, or not
// sent because the finding resolved) says so with its reason. Pure.
std::string Summarize(const StoredRemediation& stored);

// The order a record stands for (`dry_run` for a person's dry run),
// issued at `now`. Pure.
v1::RemediationOrder OrderFor(const v1::Remediation& record, bool dry_run,
                              absl::Time now);

}  // namespace ghostpeer::aggregator::remediation

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_COORDINATOR_H_
