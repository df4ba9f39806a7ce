// How long a Linux TCP socket keeps retransmitting into silence before its
// kernel gives up (ETIMEDOUT) under the default net.ipv4.tcp_retries2 = 15:
// the time a client writing to a ghost peer learns nothing, and what a
// TCP_USER_TIMEOUT bound would cut short. Pure; thread-safe.
//
// The kernel's rule (net/ipv4/tcp_timer.c, retransmits_timed_out and
// tcp_model_timeout): it gives up at the first retransmission timer expiry
// at which the time since the first unacknowledged segment was sent has
// reached the budget tcp_retries2 buys at TCP_RTO_MIN, 924.6 s:
//   (2^10 - 1) x 200 ms (the doubling phase) + 6 x 120 s (capped).
// Expiries come at the socket's own RTO, doubled after each one (backoff)
// up to TCP_RTO_MAX, so a socket with a longer RTO (a longer path) gives up
// on the first expiry past the budget, a little later.
#ifndef GHOSTPEER_COMMON_TCP_RETRIES_H_
#define GHOSTPEER_COMMON_TCP_RETRIES_H_

#include <cstdint>

#include "absl/time/time.h"

namespace ghostpeer {

inline constexpr absl::Duration kTcpRtoMin = absl::Milliseconds(200);
inline constexpr absl::Duration kTcpRtoMax = absl::Seconds(120);
// tcp_model_timeout(tcp_retries2 = 15, TCP_RTO_MIN).
inline constexpr absl::Duration kTcpRetries2Budget = absl::Milliseconds(924600);

// The time left before the kernel gives up on a socket whose tcp_info says
// `rto` (tcpi_rto: the current timeout, already doubled `backoff` times)
// and `backoff` (tcpi_backoff: expiries since the last ACK). Counted from
// the last expiry, which tcp_info does not date: the real time left is up
// to one `rto` less. With backoff 0 (nothing retransmitted: an idle
// connection, or a write not yet due) it is the whole time from the next
// unanswered write: 924.6 s at rto 200 ms.
//
// The base RTO is rto / 2^backoff; once the RTO is capped at 120 s the base
// cannot be told and TCP_RTO_MIN is assumed. A socket already past the
// budget (tcp_retries2 raised on its node) gets one more `rto`. Values
// from a node are hostile: a zero RTO (not reported) reads as TCP_RTO_MIN
// doubled `backoff` times, one above TCP_RTO_MAX as TCP_RTO_MAX, and any
// backoff is bounded.
absl::Duration RemainingRetransmissionTime(absl::Duration rto,
                                           uint32_t backoff);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_TCP_RETRIES_H_
