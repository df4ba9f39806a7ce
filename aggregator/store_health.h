// Whether the aggregator's store can write, judged by the writes it makes.
// Readiness (/readyz) and the gRPC health of the Ingest service follow it:
// an aggregator whose disk is full or whose database went read-only
// refuses address events and keeps findings in memory only, and must say so
// rather than look healthy.
#ifndef GHOSTPEER_AGGREGATOR_STORE_HEALTH_H_
#define GHOSTPEER_AGGREGATOR_STORE_HEALTH_H_

#include <array>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ghostpeer::aggregator {

// The kinds of store write, judged separately. A write that had nothing to
// do proves nothing: SQLite commits an empty transaction without touching
// the disk, so housekeeping's purge keeps succeeding on a full disk while
// every ingest write fails. A success therefore clears only a failure of
// its own kind, and the store is writable when the latest outcome of every
// kind is a success.
enum class StoreWrite {
  kIngest,        // address event batches and findings: what agents send
  kHousekeeping,  // the periodic purge; runs every few seconds even when
                  // no agent reports, so an idle aggregator notices a
                  // database that went read-only
};

// The latest outcome of each kind of store write. Thread-safe; cheap
// enough to ask on every health check.
class StoreHealth {
 public:
  // Records the outcome of one write that touched the store.
  void Record(StoreWrite write, const absl::Status& outcome, absl::Time now);

  // OK while the latest write of every kind succeeded (or none was made);
  // otherwise Unavailable with the failed write's error and since when the
  // store has been failing.
  absl::Status Writable() const;

 private:
  struct Latest {
    absl::Status failure;  // OK while the latest write succeeded
    absl::Time failing_since = absl::InfinitePast();
  };
  mutable absl::Mutex mu_;
  // One slot per StoreWrite; kHousekeeping is the last.
  std::array<Latest, static_cast<size_t>(StoreWrite::kHousekeeping) + 1> latest_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_STORE_HEALTH_H_
