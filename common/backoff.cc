#include "common/backoff.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace ghostpeer {
namespace {

constexpr double kMaxMultiplier = 1000;

Backoff::UnitRandom OwnRandom() {
  // std::function must be copyable; the generator is shared by the copies.
  return [generator = std::make_shared<absl::BitGen>()] {
    return absl::Uniform(absl::IntervalClosedClosed, *generator, 0.0, 1.0);
  };
}

}  // namespace

absl::Status ValidateBackoffPolicy(const BackoffPolicy& policy,
                                   absl::string_view what) {
  if (policy.initial <= absl::ZeroDuration() ||
      policy.max == absl::InfiniteDuration() || policy.max < policy.initial) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": backoff needs 0 < initial <= max, got initial ",
                     absl::FormatDuration(policy.initial), " and max ",
                     absl::FormatDuration(policy.max)));
  }
  // Written so that NaN fails too.
  if (!(policy.multiplier >= 1 && policy.multiplier <= kMaxMultiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": backoff multiplier must be in [1, ",
                     kMaxMultiplier, "], got ", policy.multiplier));
  }
  return absl::OkStatus();
}

Backoff::Backoff(BackoffPolicy policy) : Backoff(policy, OwnRandom()) {}

Backoff::Backoff(BackoffPolicy policy, UnitRandom random)
    : policy_(policy), random_(std::move(random)) {}

absl::Duration Backoff::Next() {
  if (failures_ < std::numeric_limits<int>::max()) ++failures_;
  return DelayAfter(failures_);
}

absl::Duration Backoff::Step(int failures) const {
  const absl::Duration cap = std::max(policy_.max, absl::ZeroDuration());
  absl::Duration step = std::clamp(policy_.initial, absl::ZeroDuration(), cap);
  // Multiply one failure at a time and stop at the cap: no pow() overflow
  // after thousands of failures, and at most log(max / initial) rounds.
  if (policy_.multiplier > 1) {
    for (int i = 1; i < failures && step < cap; ++i) {
      step *= policy_.multiplier;
    }
  }
  return std::min(step, cap);
}

absl::Duration Backoff::DelayAfter(int failures) {
  const absl::Duration step = Step(failures);
  switch (policy_.jitter) {
    case Jitter::kNone:
      return step;
    case Jitter::kEqual: {
      const double unit = std::clamp(random_(), 0.0, 1.0);
      return step / 2 + (step / 2) * unit;
    }
  }
  return step;
}

}  // namespace ghostpeer
