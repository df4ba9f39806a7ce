#include "aggregator/store_health.h"

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {

void StoreHealth::Record(StoreWrite write, const absl::Status& outcome,
                         absl::Time now) {
  absl::MutexLock lock(&mu_);
  Latest& latest = latest_[static_cast<size_t>(write)];
  // Keep the start of a run of failures: "failing since" is what tells an
  // operator whether this is a blip or an outage.
  if (!outcome.ok() && latest.failure.ok()) latest.failing_since = now;
  latest.failure = outcome;
}

absl::Status StoreHealth::Writable() const {
  absl::MutexLock lock(&mu_);
  const Latest* oldest_failure = nullptr;
  for (const Latest& latest : latest_) {
    if (latest.failure.ok()) continue;
    if (oldest_failure == nullptr ||
        latest.failing_since < oldest_failure->failing_since) {
      oldest_failure = &latest;
    }
  }
  if (oldest_failure == nullptr) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("the store cannot write since ",
                   ghostpeer::FormatTime(oldest_failure->failing_since), ": ",
                   oldest_failure->failure.message()));
}

}  // namespace ghostpeer::aggregator
