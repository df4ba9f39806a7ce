// The persisted state of notifications: one row per (sink, finding id,
// episode, event), so that every such notification is delivered once,
// acknowledged ones are never repeated, and pending ones survive a restart.
// With a SQLite --db, a file of its own beside the Engine's
// (DeliveryStorePath), so that no delivery write ever holds a lock the
// Engine's ingest path waits for; with a PostgreSQL --db, a table in that
// database shared by every replica (postgres_delivery_store.h).
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_DELIVERY_STORE_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_DELIVERY_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/alerts/webhook.h"
#include "ghostpeer/v1/model.pb.h"

struct sqlite3;

namespace ghostpeer::aggregator::alerts {

// A finding is re-opened under the same id when its evidence comes back
// (findings.h): first_seen tells the episodes apart.
int64_t EpisodeOf(const v1::Finding& finding);

// One notification waiting to go out (or gone).
struct Delivery {
  int64_t id = 0;  // row id: creation order
  std::string sink;
  std::string finding_id;
  int64_t episode = 0;
  DeliveryEvent event = DeliveryEvent::kOpened;
  // Tells deliveries of one event apart within an episode: for
  // kRemediated, RemediationChange() of the finding; empty otherwise.
  std::string change;
  v1::Finding finding;  // as it was at the event
  int attempts = 0;     // failed attempts so far
  absl::Time created;
  absl::Time next_attempt;
  // Claim(): the lease this replica holds on it; InfinitePast otherwise.
  // Send only before it ends, or another replica may send it too.
  absl::Time claimed_until = absl::InfinitePast();
};

// "<finding id>-<episode>-<event>", and "-<change>" when it has one: the
// same for every retry.
std::string DeliveryId(const Delivery& delivery);

// What tells one remediation notification of a finding from the next: 16
// hex digits of a stable hash (FNV-1a 64) of Finding.remediation, the same
// across restarts and builds. "" when the finding says nothing was done.
std::string RemediationChange(const v1::Finding& finding);

// Where the delivery state of the Engine database `engine_db_path` lives:
// "<engine_db_path>-alerts" (":memory:" stays in memory).
std::string DeliveryStorePath(const std::string& engine_db_path);

// This process's name in claims: "<hostname>:<pid>:<8 random hex digits>",
// what --replica-id defaults to; new at every call. Operators read it in
// the database (delivery_outbox.claimed_by) to see which aggregator holds
// a delivery.
std::string DefaultReplicaId();

// The "EVENT" or "EVENT:change" text the event column holds (the UNIQUE key
// then admits one row per change), and back: false for text no build wrote.
std::string DeliveryEventKey(DeliveryEvent event, const std::string& change);
bool ParseDeliveryEventKey(absl::string_view key, DeliveryEvent* event,
                           std::string* change);

// The persisted deliveries of one aggregator, or of several sharing one
// database (issue 12). Every implementation is thread-safe and keeps one
// contract, so that a notification goes out once across replicas:
//   - Enqueue is idempotent by (sink, finding id, episode, event, change):
//     replicas reconciling the same finding make one row;
//   - a worker takes due rows with Claim, which leases them to this store's
//     replica id until `now + lease`, committed before anything is sent, so
//     no other replica takes them meanwhile; a replica that dies mid-send
//     releases its claim by lease expiry, and another sends the row again
//     (at-least-once in that crash window, exactly once otherwise);
//   - MarkFailed and MarkAbandoned apply only while the claim is this
//     replica's (or nobody's); MarkDelivered applies whoever holds it.
// Errors: Unavailable (busy, connection lost: try again), ResourceExhausted,
// DataLoss (unreadable row), Internal; each message names the store.
class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Records a notification to deliver, due now. Returns false (and changes
  // nothing) when this (sink, finding, episode, event) is already known,
  // whatever its state: that is what makes delivery once-only.
  // `change` (Delivery::change) makes several notifications of one event
  // per episode possible, once each.
  virtual absl::StatusOr<bool> Enqueue(const std::string& sink,
                                       DeliveryEvent event,
                                       const v1::Finding& finding,
                                       absl::Time now,
                                       const std::string& change = "") = 0;

  // Whether (sink, finding id, episode, event) is known, in any state.
  virtual absl::StatusOr<bool> Known(const std::string& sink,
                                     const std::string& finding_id,
                                     int64_t episode, DeliveryEvent event) = 0;

  // Pending deliveries of `sink` due at `now`, oldest first, at most
  // `limit`, claimed or not (a look, for tests and operators); a delivery
  // waits while an older one of the same finding is pending, so a receiver
  // never hears RESOLVED before OPENED.
  virtual absl::StatusOr<std::vector<Delivery>> Due(const std::string& sink,
                                                    absl::Time now,
                                                    int limit) = 0;

  // Due()'s deliveries that no other replica holds a live claim on,
  // claimed for this replica until `now + lease` (Delivery::claimed_until),
  // oldest first. Rows this replica claimed before count as free: a
  // restarted process with the same replica id resumes at once.
  virtual absl::StatusOr<std::vector<Delivery>> Claim(const std::string& sink,
                                                      absl::Time now, int limit,
                                                      absl::Duration lease) = 0;

  // When the next delivery Due() would return is due (one waiting behind
  // an older one of its finding does not count; one another replica holds
  // counts as due when its lease ends); nullopt when none is.
  virtual absl::StatusOr<std::optional<absl::Time>> NextDue(
      const std::string& sink) = 0;

  // The receiver acknowledged it: never sent again. Applies whoever holds
  // the claim: a replica that took the row over after our lease ended
  // could only send it again.
  virtual absl::Status MarkDelivered(int64_t id, absl::Time now) = 0;
  // It failed: `attempts` failures so far, next try at `next_attempt`; the
  // claim is released. Aborted when another replica claimed the row since
  // (it decides what comes next).
  virtual absl::Status MarkFailed(int64_t id, int attempts,
                                  absl::Time next_attempt,
                                  const std::string& error) = 0;
  // Given up on (RetryPolicy::give_up_after): kept for the record, never
  // sent again. Aborted like MarkFailed.
  virtual absl::Status MarkAbandoned(int64_t id, absl::Time now,
                                     const std::string& error) = 0;

  // Pending deliveries per sink.
  virtual absl::StatusOr<std::map<std::string, int64_t>> PendingBySink() = 0;

  // Deletes delivered and abandoned rows finished before `horizon` (the
  // Engine forgets resolved findings after its retention too). Returns how
  // many went.
  virtual absl::StatusOr<int64_t> Purge(absl::Time horizon) = 0;

  // OK when the database answers.
  virtual absl::Status Ping() = 0;

  // Who claims: this store's replica id.
  virtual const std::string& replica_id() const = 0;
};

// A SQLite file: one aggregator (the default), or several processes on one
// host sharing the file (claims then work as on PostgreSQL, serialised by
// SQLite's write lock). Thread-safe (one connection behind a mutex).
class SqliteDeliveryStore final : public DeliveryStore {
 public:
  // Opens or creates the file (":memory:" for a store that keeps nothing)
  // and the delivery_* tables, adding the claim columns to a file of an
  // older build. Unavailable/FailedPrecondition with the path when it
  // cannot. `replica_id` names this process in claims; empty: the host's
  // name, so a restarted aggregator takes its claims back at once (two
  // processes sharing one file need ids of their own).
  static absl::StatusOr<std::unique_ptr<SqliteDeliveryStore>> Open(
      const std::string& path, const std::string& replica_id = "");
  ~SqliteDeliveryStore() override;

  // Moves the delivery_* tables an older build kept inside the Engine's
  // database at `legacy_path` into this store, so an upgrade neither
  // repeats delivered notifications nor forgets pending ones; returns how
  // many rows came. 0 when that file does not exist or holds none. Safe to
  // interrupt and run again: rows are copied before the old table is
  // dropped, and a row already here is not copied twice.
  absl::StatusOr<int64_t> ImportFrom(const std::string& legacy_path);

  absl::StatusOr<bool> Enqueue(const std::string& sink, DeliveryEvent event,
                               const v1::Finding& finding, absl::Time now,
                               const std::string& change = "") override;
  absl::StatusOr<bool> Known(const std::string& sink,
                             const std::string& finding_id, int64_t episode,
                             DeliveryEvent event) override;
  absl::StatusOr<std::vector<Delivery>> Due(const std::string& sink,
                                            absl::Time now, int limit) override;
  absl::StatusOr<std::vector<Delivery>> Claim(const std::string& sink,
                                              absl::Time now, int limit,
                                              absl::Duration lease) override;
  absl::StatusOr<std::optional<absl::Time>> NextDue(
      const std::string& sink) override;
  absl::Status MarkDelivered(int64_t id, absl::Time now) override;
  absl::Status MarkFailed(int64_t id, int attempts, absl::Time next_attempt,
                          const std::string& error) override;
  absl::Status MarkAbandoned(int64_t id, absl::Time now,
                             const std::string& error) override;
  absl::StatusOr<std::map<std::string, int64_t>> PendingBySink() override;
  absl::StatusOr<int64_t> Purge(absl::Time horizon) override;
  absl::Status Ping() override;
  const std::string& replica_id() const override { return replica_id_; }

 private:
  SqliteDeliveryStore(sqlite3* db, std::string path, std::string replica_id)
      : db_(db), path_(std::move(path)), replica_id_(std::move(replica_id)) {}
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the claim columns to a file an older build created.
  absl::Status AddClaimColumns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Delivery>> DueLocked(const std::string& sink,
                                                  absl::Time now, int limit,
                                                  bool claimable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Finish(int64_t id, const char* state, absl::Time now,
                      const std::string& error, bool claim_must_be_ours);
  // Aborted when row `id` is pending and claimed by another replica; OK
  // otherwise (a finished row was simply not changed).
  absl::Status ClaimLost(int64_t id, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ImportFrom's work once the old file is attached as "legacy".
  absl::StatusOr<int64_t> ImportAttached() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_GUARDED_BY(mu_);
  const std::string path_;
  const std::string replica_id_;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_DELIVERY_STORE_H_
