// When to try a failed delivery again: exponential backoff with jitter, and
// when to give up.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_

#include "absl/time/time.h"

namespace ghostpeer::aggregator::alerts {

struct RetryPolicy {
  absl::Duration initial = absl::Seconds(1);
  double multiplier = 2;
  absl::Duration max = absl::Minutes(5);
  // Each delay is scaled by a factor in [1 - jitter, 1 + jitter], so that
  // many aggregators (or many deliveries) do not retry in lockstep.
  double jitter = 0.2;
  // A delivery still failing this long after its event is abandoned
  // (logged and counted): a receiver down for a day wants a summary, not a
  // day of pages.
  absl::Duration give_up_after = absl::Hours(24);
};

// The delay before attempt `failed_attempts + 1`, after `failed_attempts`
// (>= 1) failures: initial * multiplier^(failed_attempts - 1), capped at
// `max`, then scaled by 1 + jitter * (2 * unit_random - 1) with
// `unit_random` in [0, 1] (0.5: no jitter). Pure.
absl::Duration RetryDelay(const RetryPolicy& policy, int failed_attempts,
                          double unit_random);

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_RETRY_POLICY_H_
