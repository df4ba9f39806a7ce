// Rate limits on remediation orders, per node and for the whole cluster, so
// that a bug or a bad history can never mass-destroy sockets (issue 11).
#ifndef GHOSTPEER_AGGREGATOR_REMEDIATION_RATE_LIMITER_H_
#define GHOSTPEER_AGGREGATOR_REMEDIATION_RATE_LIMITER_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace ghostpeer::aggregator::remediation {

struct RateLimits {
  // Orders per minute to one node's agent
  // (--remediation-max-per-node-per-minute).
  int per_node_per_minute = 20;
  // Orders per minute to all agents together (--remediation-max-per-minute).
  int per_minute = 100;
};

// Token buckets: each holds at most a minute's worth of tokens (the burst)
// and refills continuously at its rate; an order takes one token from its
// node's bucket and one from the cluster's, both or neither. Time is the
// caller's (`now`), so tests need no clock; a `now` earlier than a previous
// one refills nothing. Not thread-safe: the coordinator serialises calls.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimits limits) : limits_(limits) {}

  // Takes the tokens of one order to `node` at `now`. nullopt when it may
  // go; otherwise which limit stopped it, for people ("node node-1: 20
  // orders per minute (--remediation-max-per-node-per-minute)").
  std::optional<std::string> TryTake(const std::string& node, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated = absl::InfinitePast();
  };
  // Refills `bucket` (capacity `per_minute`) up to `now`.
  static void Refill(Bucket& bucket, int per_minute, absl::Time now);

  const RateLimits limits_;
  Bucket cluster_;
  absl::flat_hash_map<std::string, Bucket> nodes_;
};

}  // namespace ghostpeer::aggregator::remediation

#endif  // GHOSTPEER_AGGREGATOR_REMEDIATION_RATE_LIMITER_H_
