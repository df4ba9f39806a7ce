#include "aggregator/alerts/retry_policy.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer::aggregator::alerts {
namespace {

TEST(RetryDelayTest, ExponentialScheduleCappedWithJitterBounds) {
  RetryPolicy policy;
  policy.initial = absl::Seconds(1);
  policy.multiplier = 2;
  policy.max = absl::Seconds(60);
  policy.jitter = 0.2;
  struct Case {
    std::string name;
    int failures;
    double unit_random;
    absl::Duration want;
  };
  const std::vector<Case> cases = {
      {"first retry", 1, 0.5, absl::Seconds(1)},
      {"second", 2, 0.5, absl::Seconds(2)},
      {"third", 3, 0.5, absl::Seconds(4)},
      {"sixth", 6, 0.5, absl::Seconds(32)},
      {"capped", 7, 0.5, absl::Seconds(60)},
      {"far past the cap, no overflow", 10000, 0.5, absl::Seconds(60)},
      {"lowest jitter", 3, 0.0, absl::Seconds(4) * 0.8},
      {"highest jitter", 3, 1.0, absl::Seconds(4) * 1.2},
      {"random out of range is clamped", 3, 7.0, absl::Seconds(4) * 1.2},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RetryDelay(policy, c.failures, c.unit_random), c.want) << c.name;
  }
}

TEST(RetryDelayTest, NoJitterConfigured) {
  RetryPolicy policy;
  policy.jitter = 0;
  EXPECT_EQ(RetryDelay(policy, 2, 0.0), absl::Seconds(2));
  EXPECT_EQ(RetryDelay(policy, 2, 1.0), absl::Seconds(2));
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
