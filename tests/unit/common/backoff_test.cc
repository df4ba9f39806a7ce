#include "common/backoff.h"

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

// A source that always answers `unit`: the jittered wait is then exact.
Backoff::UnitRandom Constant(double unit) {
  return [unit] { return unit; };
}

BackoffPolicy Policy(Jitter jitter) {
  BackoffPolicy policy;
  policy.initial = absl::Seconds(1);
  policy.max = absl::Seconds(60);
  policy.multiplier = 2;
  policy.jitter = jitter;
  return policy;
}

TEST(BackoffTest, StepGrowsExponentiallyUpToTheCap) {
  struct Case {
    std::string name;
    BackoffPolicy policy;
    int failures;
    absl::Duration want;
  };
  BackoffPolicy triple = Policy(Jitter::kNone);
  triple.multiplier = 3;
  BackoffPolicy flat = Policy(Jitter::kNone);
  flat.multiplier = 1;
  BackoffPolicy uneven_cap = Policy(Jitter::kNone);
  uneven_cap.max = absl::Milliseconds(2500);
  const std::vector<Case> cases = {
      {"first failure waits initial", Policy(Jitter::kNone), 1,
       absl::Seconds(1)},
      {"second doubles", Policy(Jitter::kNone), 2, absl::Seconds(2)},
      {"sixth", Policy(Jitter::kNone), 6, absl::Seconds(32)},
      {"seventh is capped", Policy(Jitter::kNone), 7, absl::Seconds(60)},
      {"far past the cap, no overflow", Policy(Jitter::kNone), 1 << 30,
       absl::Seconds(60)},
      {"zero failures count as one", Policy(Jitter::kNone), 0,
       absl::Seconds(1)},
      {"multiplier 3", triple, 3, absl::Seconds(9)},
      {"multiplier 1 never grows", flat, 1 << 30, absl::Seconds(1)},
      {"cap between two steps", uneven_cap, 3, absl::Milliseconds(2500)},
  };
  for (const Case& c : cases) {
    Backoff backoff(c.policy, Constant(0.5));
    EXPECT_EQ(backoff.Step(c.failures), c.want) << c.name;
    EXPECT_EQ(backoff.DelayAfter(c.failures), c.want)
        << c.name << ": no jitter";
  }
}

TEST(BackoffTest, EqualJitterKeepsHalfTheStep) {
  struct Case {
    std::string name;
    int failures;
    double unit;
    absl::Duration want;
  };
  const std::vector<Case> cases = {
      {"lowest draw: half the step", 3, 0.0, absl::Seconds(2)},
      {"middle draw", 3, 0.5, absl::Seconds(3)},
      {"highest draw: the whole step", 3, 1.0, absl::Seconds(4)},
      {"capped step, highest draw: never past max", 100, 1.0,
       absl::Seconds(60)},
      {"draw above 1 is clamped", 3, 7.0, absl::Seconds(4)},
      {"draw below 0 is clamped", 3, -1.0, absl::Seconds(2)},
  };
  for (const Case& c : cases) {
    Backoff backoff(Policy(Jitter::kEqual), Constant(c.unit));
    EXPECT_EQ(backoff.DelayAfter(c.failures), c.want) << c.name;
  }
}

TEST(BackoffTest, SeededWaitsStayInTheirRangeAndSpread) {
  std::mt19937_64 engine(42);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Backoff backoff(Policy(Jitter::kEqual), [&] { return unit(engine); });
  std::vector<absl::Duration> capped_waits;
  for (int i = 1; i <= 200; ++i) {
    const absl::Duration wait = backoff.Next();
    const absl::Duration step = backoff.Step(i);
    ASSERT_GE(wait, step / 2) << "failure " << i;
    ASSERT_LE(wait, step) << "failure " << i;
    if (step == absl::Seconds(60)) capped_waits.push_back(wait);
  }
  // A jitter that does not jitter would pass the bounds above.
  ASSERT_GT(capped_waits.size(), 100u);
  const auto [low, high] =
      std::minmax_element(capped_waits.begin(), capped_waits.end());
  EXPECT_LT(*low, absl::Seconds(35));
  EXPECT_GT(*high, absl::Seconds(55));
}

TEST(BackoffTest, NextCountsFailuresAndResetStartsOver) {
  Backoff backoff(Policy(Jitter::kNone));
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Seconds(4));
  EXPECT_EQ(backoff.failures(), 3);
  EXPECT_EQ(backoff.DelayAfter(10), absl::Seconds(60));
  EXPECT_EQ(backoff.failures(), 3) << "DelayAfter counts nothing";
  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
}

TEST(BackoffTest, OwnRandomSourceStaysInRange) {
  Backoff backoff(Policy(Jitter::kEqual));
  for (int i = 0; i < 100; ++i) {
    const absl::Duration wait = backoff.DelayAfter(2);
    ASSERT_GE(wait, absl::Seconds(1));
    ASSERT_LE(wait, absl::Seconds(2));
  }
}

TEST(BackoffTest, ValidatePolicy) {
  struct Case {
    std::string name;
    absl::Duration initial;
    absl::Duration max;
    double multiplier;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"defaults", absl::Seconds(1), absl::Seconds(30), 2, true},
      {"initial equal to max", absl::Seconds(5), absl::Seconds(5), 2, true},
      {"multiplier 1", absl::Seconds(1), absl::Seconds(5), 1, true},
      {"zero initial", absl::ZeroDuration(), absl::Seconds(5), 2, false},
      {"negative initial", absl::Seconds(-1), absl::Seconds(5), 2, false},
      {"max below initial", absl::Seconds(5), absl::Seconds(1), 2, false},
      {"infinite max", absl::Seconds(1), absl::InfiniteDuration(), 2, false},
      {"shrinking multiplier", absl::Seconds(1), absl::Seconds(5), 0.5, false},
      {"absurd multiplier", absl::Seconds(1), absl::Seconds(5), 1e9, false},
      {"NaN multiplier", absl::Seconds(1), absl::Seconds(5),
       std::numeric_limits<double>::quiet_NaN(), false},
  };
  for (const Case& c : cases) {
    BackoffPolicy policy{c.initial, c.max, c.multiplier, Jitter::kEqual};
    const absl::Status status = ValidateBackoffPolicy(policy, "--retry");
    EXPECT_EQ(status.ok(), c.ok) << c.name << ": " << status;
    if (!c.ok) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_NE(status.message().find("--retry"), absl::string_view::npos)
          << c.name << ": " << status;
    }
  }
}

}  // namespace
}  // namespace ghostpeer
