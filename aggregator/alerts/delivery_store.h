// The persisted state of notifications: one row per (sink, finding id,
// episode, event), so that every such notification is delivered once,
// acknowledged ones are never repeated, and pending ones survive a restart.
// A SQLite file of its own beside the Engine's (DeliveryStorePath), so that
// no delivery write ever holds a lock the Engine's ingest path waits for.
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

// Thread-safe (one connection behind a mutex).
class DeliveryStore {
 public:
  // Opens or creates the file (":memory:" for a store that keeps nothing)
  // and the delivery_* tables. Unavailable/FailedPrecondition with the path
  // when it cannot.
  static absl::StatusOr<std::unique_ptr<DeliveryStore>> Open(
      const std::string& path);
  ~DeliveryStore();

  // Moves the delivery_* tables an older build kept inside the Engine's
  // database at `legacy_path` into this store, so an upgrade neither
  // repeats delivered notifications nor forgets pending ones; returns how
  // many rows came. 0 when that file does not exist or holds none. Safe to
  // interrupt and run again: rows are copied before the old table is
  // dropped, and a row already here is not copied twice.
  absl::StatusOr<int64_t> ImportFrom(const std::string& legacy_path);

  // Records a notification to deliver, due now. Returns false (and changes
  // nothing) when this (sink, finding, episode, event) is already known,
  // whatever its state: that is what makes delivery once-only.
  // `change` (Delivery::change) makes several notifications of one event
  // per episode possible, once each.
  absl::StatusOr<bool> Enqueue(const std::string& sink, DeliveryEvent event,
                               const v1::Finding& finding, absl::Time now,
                               const std::string& change = "");

  // Whether (sink, finding id, episode, event) is known, in any state.
  absl::StatusOr<bool> Known(const std::string& sink,
                             const std::string& finding_id, int64_t episode,
                             DeliveryEvent event);

  // Pending deliveries of `sink` due at `now`, oldest first, at most
  // `limit`; a delivery waits while an older one of the same finding is
  // pending, so a receiver never hears RESOLVED before OPENED.
  absl::StatusOr<std::vector<Delivery>> Due(const std::string& sink,
                                            absl::Time now, int limit);

  // When the next delivery Due() would return is due (one waiting behind
  // an older one of its finding does not count); nullopt when none is.
  absl::StatusOr<std::optional<absl::Time>> NextDue(const std::string& sink);

  // The receiver acknowledged it: never sent again.
  absl::Status MarkDelivered(int64_t id, absl::Time now);
  // It failed: `attempts` failures so far, next try at `next_attempt`.
  absl::Status MarkFailed(int64_t id, int attempts, absl::Time next_attempt,
                          const std::string& error);
  // Given up on (RetryPolicy::give_up_after): kept for the record, never
  // sent again.
  absl::Status MarkAbandoned(int64_t id, absl::Time now,
                             const std::string& error);

  // Pending deliveries per sink.
  absl::StatusOr<std::map<std::string, int64_t>> PendingBySink();

  // Deletes delivered and abandoned rows finished before `horizon` (the
  // Engine forgets resolved findings after its retention too). Returns how
  // many went.
  absl::StatusOr<int64_t> Purge(absl::Time horizon);

  // OK when the database answers.
  absl::Status Ping();

 private:
  explicit DeliveryStore(sqlite3* db, std::string path)
      : db_(db), path_(std::move(path)) {}
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Finish(int64_t id, const char* state, absl::Time now,
                      const std::string& error);
  // ImportFrom's work once the old file is attached as "legacy".
  absl::StatusOr<int64_t> ImportAttached() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_GUARDED_BY(mu_);
  const std::string path_;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_DELIVERY_STORE_H_
