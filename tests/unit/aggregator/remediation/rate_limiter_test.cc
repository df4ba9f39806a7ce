#include "aggregator/remediation/rate_limiter.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::remediation {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

// How many of `tries` orders to `node` at `at` may go.
int Taken(RateLimiter& limiter, const std::string& node, int tries,
          absl::Time at) {
  int taken = 0;
  for (int i = 0; i < tries; ++i) {
    if (!limiter.TryTake(node, at).has_value()) ++taken;
  }
  return taken;
}

TEST(RateLimiterTest, PerNodeBurstThenRefill) {
  RateLimiter limiter({/*per_node_per_minute=*/3, /*per_minute=*/100});
  EXPECT_EQ(Taken(limiter, "node-1", 5, kT0), 3);
  EXPECT_THAT(limiter.TryTake("node-1", kT0),
              Optional(HasSubstr("--remediation-max-per-node-per-minute")));
  // Another node has its own bucket.
  EXPECT_EQ(Taken(limiter, "node-2", 3, kT0), 3);
  // A third of a minute gives node-1 one token back, not more.
  EXPECT_EQ(Taken(limiter, "node-1", 3, kT0 + absl::Seconds(20)), 1);
  // A long pause refills to the burst, never past it.
  EXPECT_EQ(Taken(limiter, "node-1", 10, kT0 + absl::Hours(1)), 3);
}

TEST(RateLimiterTest, ClusterLimitAcrossNodes) {
  RateLimiter limiter({/*per_node_per_minute=*/10, /*per_minute=*/4});
  EXPECT_EQ(Taken(limiter, "node-1", 3, kT0), 3);
  EXPECT_EQ(Taken(limiter, "node-2", 3, kT0), 1);
  EXPECT_THAT(limiter.TryTake("node-3", kT0),
              Optional(HasSubstr("--remediation-max-per-minute")));
  EXPECT_EQ(Taken(limiter, "node-3", 2, kT0 + absl::Seconds(30)), 2);
}

TEST(RateLimiterTest, RefusalTakesNoTokenFromTheOtherBucket) {
  RateLimiter limiter({/*per_node_per_minute=*/1, /*per_minute=*/2});
  EXPECT_EQ(Taken(limiter, "node-1", 1, kT0), 1);
  // node-1's refusals must not drain the cluster's bucket.
  EXPECT_EQ(Taken(limiter, "node-1", 5, kT0), 0);
  EXPECT_EQ(Taken(limiter, "node-2", 1, kT0), 1);
}

TEST(RateLimiterTest, ClockGoingBackRefillsNothing) {
  RateLimiter limiter({/*per_node_per_minute=*/2, /*per_minute=*/100});
  EXPECT_EQ(Taken(limiter, "node-1", 2, kT0), 2);
  EXPECT_EQ(Taken(limiter, "node-1", 2, kT0 - absl::Minutes(5)), 0);
}

}  // namespace
}  // namespace ghostpeer::aggregator::remediation
