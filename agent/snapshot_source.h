// Where the agent's snapshots come from: the seam between capture (root,
// the kernel) and reporting (the stream to the aggregator), so the stream
// client can be tested without either.
#ifndef GHOSTPEER_AGENT_SNAPSHOT_SOURCE_H_
#define GHOSTPEER_AGENT_SNAPSHOT_SOURCE_H_

#include "absl/status/statusor.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;

  // One snapshot of the node now (Snapshotter::Take says what it holds).
  // An error means no snapshot at all this time; the caller logs it, counts
  // it and tries again at the next interval. Not thread-safe: one caller.
  virtual absl::StatusOr<v1::NodeSnapshot> Take() = 0;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_SNAPSHOT_SOURCE_H_
