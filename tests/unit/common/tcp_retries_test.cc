#include "common/tcp_retries.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

struct Case {
  std::string name;
  absl::Duration rto;
  uint32_t backoff;
  absl::Duration want;
};

TEST(RemainingRetransmissionTimeTest, FollowsTheKernelsRetries2Budget) {
  const std::vector<Case> cases = {
      // The kernel's own model: 1023 x 200 ms + 6 x 120 s.
      {"fresh at TCP_RTO_MIN", absl::Milliseconds(200), 0,
       absl::Milliseconds(924600)},
      // 4 expiries done (0.2+0.4+0.8+1.6 = 3 s); rto now 3.2 s.
      {"four expiries in", absl::Milliseconds(3200), 4,
       absl::Milliseconds(924600 - 3000)},
      // The last doubling expiry (rto 102.4 s after 9): 102.2 s behind.
      {"nine expiries in", absl::Milliseconds(102400), 9,
       absl::Milliseconds(924600 - 102200)},
      // Capped: the base cannot be told, 200 ms assumed; 12 expiries are
      // 204.6 + 2 x 120 s behind, 4 x 120 s ahead.
      {"capped", absl::Seconds(120), 12, absl::Seconds(480)},
      // The last expiry before giving up.
      {"one expiry left", absl::Seconds(120), 15, absl::Seconds(120)},
      // A longer path: 1 s doubling to 64 s (127 s), then 120 s steps; the
      // first expiry past 924.6 s is at 967 s.
      {"rto 1 s", absl::Seconds(1), 0, absl::Seconds(967)},
      // 204 ms x 64 (the CLI's test finding): 12.852 s behind, 928.692 s
      // is the expiry past the budget.
      {"rto 13.056 s after 6", absl::Milliseconds(13056), 6,
       absl::Milliseconds(928692 - 12852)},
      // tcp_retries2 raised on that node: past the budget, one rto more.
      {"past the budget", absl::Seconds(120), 40, absl::Seconds(120)},
      // Hostile or missing values stay bounded and sensible.
      {"no rto", absl::ZeroDuration(), 0, absl::Milliseconds(924600)},
      {"no rto after 4", absl::ZeroDuration(), 4,
       absl::Milliseconds(924600 - 3000)},
      {"absurd rto", absl::Hours(100), 0, absl::Seconds(960)},
      {"absurd backoff", absl::Milliseconds(100), 4000000000u,
       absl::Milliseconds(100)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RemainingRetransmissionTime(c.rto, c.backoff), c.want)
        << c.name << ": got "
        << absl::FormatDuration(RemainingRetransmissionTime(c.rto, c.backoff));
  }
}

TEST(RemainingRetransmissionTimeTest, NeverGrowsAsExpiriesPass) {
  absl::Duration previous = absl::InfiniteDuration();
  for (uint32_t backoff = 0; backoff <= 15; ++backoff) {
    absl::Duration rto = absl::Milliseconds(200);
    for (uint32_t i = 0; i < backoff; ++i) rto = std::min(rto * 2, kTcpRtoMax);
    const absl::Duration left = RemainingRetransmissionTime(rto, backoff);
    EXPECT_GT(left, absl::ZeroDuration()) << backoff;
    EXPECT_LE(left, previous) << backoff;
    previous = left;
  }
}

}  // namespace
}  // namespace ghostpeer
