#include "common/tcp_retries.h"

#include <algorithm>

namespace ghostpeer {
namespace {

// The RTO after `doublings` expiries from `base`, capped. Bounded loop: the
// cap is reached within 28 doublings of 1 us.
absl::Duration Backed(absl::Duration base, uint32_t doublings) {
  absl::Duration rto = base;
  for (uint32_t i = 0; i < doublings && rto < kTcpRtoMax; ++i) rto *= 2;
  return std::min(rto, kTcpRtoMax);
}

}  // namespace

absl::Duration RemainingRetransmissionTime(absl::Duration rto,
                                           uint32_t backoff) {
  // Not reported (zero): the default base, doubled as often as it says.
  if (rto <= absl::ZeroDuration()) rto = Backed(kTcpRtoMin, backoff);
  rto = std::min(rto, kTcpRtoMax);
  // 1. The base RTO the doubling started from; below 1 us it is garbage.
  absl::Duration base = kTcpRtoMin;
  if (backoff == 0) {
    base = rto;
  } else if (rto < kTcpRtoMax) {
    base = rto;
    for (uint32_t i = 0; i < backoff && base > absl::Microseconds(1); ++i) {
      base /= 2;
    }
    base = std::max(base, absl::Microseconds(1));
  }
  // 2. Walk the expiries: `sent` is the time from the first unanswered send
  //    to expiry k; the kernel gives up at the first one past the budget.
  //    At most ~28 doubling steps and 8 capped ones.
  absl::Duration sent = absl::ZeroDuration();
  absl::Duration elapsed = absl::ZeroDuration();  // up to expiry `backoff`
  for (uint32_t k = 0;; ++k) {
    if (k == backoff) elapsed = sent;
    sent += Backed(base, k);
    if (sent >= kTcpRetries2Budget) {
      // 3. Already past it: the kernel gives up at the next expiry.
      if (backoff > k) return rto;
      return sent - elapsed;
    }
  }
}

}  // namespace ghostpeer
