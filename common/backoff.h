// How long to wait before trying again after a failure: the one backoff
// policy of every reconnect and retry loop in ghostpeer (the agent's
// reporter and Docker watcher, the CLI's watch, alert delivery).
#ifndef GHOSTPEER_COMMON_BACKOFF_H_
#define GHOSTPEER_COMMON_BACKOFF_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ghostpeer {

// How a wait is spread around the exponential step, so that many clients
// that failed together (a fleet of agents when the aggregator restarts) do
// not retry together.
enum class Jitter {
  // Exactly the step: for a loop that has nobody to collide with (an
  // agent and its own node's dockerd).
  kNone,
  // "Equal jitter": uniform in [step / 2, step]. Half the step is kept, so
  // a retry never comes at once after a failure, and the wait never
  // exceeds the cap.
  kEqual,
};

struct BackoffPolicy {
  // The step after the first failure.
  absl::Duration initial = absl::Seconds(1);
  // The step never grows past this.
  absl::Duration max = absl::Seconds(30);
  // Each further failure multiplies the step by this.
  double multiplier = 2;
  Jitter jitter = Jitter::kEqual;
};

// InvalidArgument (naming `what`, e.g. "--retry-initial") unless
// 0 < initial <= max < infinity and 1 <= multiplier <= 1000.
absl::Status ValidateBackoffPolicy(const BackoffPolicy& policy,
                                   absl::string_view what);

// The waits of one retry loop: Next() after each failure, Reset() after a
// success. Not thread-safe: one per loop.
class Backoff {
 public:
  // A number uniformly distributed in [0, 1]; tests pass a seeded or a
  // constant source. Values outside [0, 1] are clamped.
  using UnitRandom = std::function<double()>;

  // `policy` should pass ValidateBackoffPolicy(); the waits of a policy
  // that does not are still finite and non-negative. Draws from a random
  // generator of its own.
  explicit Backoff(BackoffPolicy policy);
  Backoff(BackoffPolicy policy, UnitRandom random);

  // Counts one more consecutive failure and returns the wait before the
  // next attempt: DelayAfter(failures()).
  absl::Duration Next();

  // A success: the next failure waits about `initial` again.
  void Reset() { failures_ = 0; }

  // Consecutive failures since construction or the last Reset().
  int failures() const { return failures_; }

  // The step after `failures` (>= 1) consecutive failures, before jitter:
  // initial * multiplier^(failures - 1), capped at max. Pure.
  absl::Duration Step(int failures) const;

  // Step(failures) with the policy's jitter applied. For a caller that
  // keeps the count of failures itself (alert delivery keeps it with each
  // delivery in its store); failures() is left alone.
  absl::Duration DelayAfter(int failures);

  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  UnitRandom random_;
  int failures_ = 0;
};

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_BACKOFF_H_
