// Bounded waits for conditions another thread makes true: tests wait for
// what they need, never a fixed sleep, and fail instead of hanging.
#ifndef GHOSTPEER_TESTS_SUPPORT_EVENTUALLY_H_
#define GHOSTPEER_TESTS_SUPPORT_EVENTUALLY_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

// Polls `condition` every few milliseconds until it holds (true) or
// `timeout` passed (false). For state with no notification to wait on.
inline bool Eventually(const std::function<bool()>& condition,
                       absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_EVENTUALLY_H_
