#include "aggregator/remediation/rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ghostpeer::aggregator::remediation {
namespace {

// Node buckets kept before full ones (worth nothing) are dropped.
constexpr size_t kMaxNodeBuckets = 10000;

}  // namespace

void RateLimiter::Refill(Bucket& bucket, int per_minute, absl::Time now) {
  const double capacity = std::max(per_minute, 0);
  if (bucket.updated == absl::InfinitePast()) {
    bucket.tokens = capacity;  // a new bucket starts full
    bucket.updated = now;
    return;
  }
  if (now <= bucket.updated) return;
  const double minutes = absl::ToDoubleMinutes(now - bucket.updated);
  bucket.tokens = std::min(capacity, bucket.tokens + minutes * capacity);
  bucket.updated = now;
}

std::optional<std::string> RateLimiter::TryTake(const std::string& node,
                                                absl::Time now) {
  if (nodes_.size() >= kMaxNodeBuckets && !nodes_.contains(node)) {
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      Refill(it->second, limits_.per_node_per_minute, now);
      if (it->second.tokens >= limits_.per_node_per_minute) {
        nodes_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  Bucket& mine = nodes_[node];
  Refill(mine, limits_.per_node_per_minute, now);
  Refill(cluster_, limits_.per_minute, now);
  if (mine.tokens < 1) {
    return absl::StrCat("node ", node, ": ", limits_.per_node_per_minute,
                        " orders per minute "
                        "(--remediation-max-per-node-per-minute)");
  }
  if (cluster_.tokens < 1) {
    return absl::StrCat("cluster: ", limits_.per_minute,
                        " orders per minute (--remediation-max-per-minute)");
  }
  mine.tokens -= 1;
  cluster_.tokens -= 1;
  return std::nullopt;
}

}  // namespace ghostpeer::aggregator::remediation
