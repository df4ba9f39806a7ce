#include "aggregator/alerts/retry_policy.h"

#include <algorithm>

namespace ghostpeer::aggregator::alerts {

absl::Duration RetryDelay(const RetryPolicy& policy, int failed_attempts,
                          double unit_random) {
  absl::Duration delay = policy.initial;
  // Multiply step by step and stop at the cap: no pow() overflow after
  // thousands of attempts.
  for (int i = 1; i < failed_attempts && delay < policy.max; ++i) {
    delay *= policy.multiplier;
  }
  delay = std::min(delay, policy.max);
  const double unit = std::clamp(unit_random, 0.0, 1.0);
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  return delay * (1 + jitter * (2 * unit - 1));
}

}  // namespace ghostpeer::aggregator::alerts
