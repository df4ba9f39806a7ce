// When to try a failed delivery again, and when to give up.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_

#include "absl/time/time.h"
#include "common/backoff.h"

namespace ghostpeer::aggregator::alerts {

struct RetryPolicy {
  // The wait after a delivery's n-th failure: 1 s doubling up to 5 min,
  // with equal jitter so that many deliveries (or many aggregators) do not
  // retry in lockstep.
  BackoffPolicy backoff{absl::Seconds(1), absl::Minutes(5), /*multiplier=*/2,
                        Jitter::kEqual};
  // A delivery still failing this long after its event is abandoned
  // (logged and counted): a receiver down for a day wants a summary, not a
  // day of pages.
  absl::Duration give_up_after = absl::Hours(24);
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_
