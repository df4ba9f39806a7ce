// Snapshots a test scripts, for the agent's stream client (Reporter)
// without root, namespaces or a kernel to dump.
#ifndef GHOSTPEER_TESTS_FAKES_FAKE_SNAPSHOT_SOURCE_H_
#define GHOSTPEER_TESTS_FAKES_FAKE_SNAPSHOT_SOURCE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/snapshot_source.h"
#include "common/time_util.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::fakes {

// Answers Take() with the snapshot last Set(), stamped with the clock's
// time. Thread-safe: the test scripts it while the reporter takes.
class FakeSnapshotSource final : public agent::SnapshotSource {
 public:
  // `clock` is not owned and must outlive this. Until the first Set(), a
  // snapshot of `node` with no namespaces and no sockets.
  FakeSnapshotSource(std::string node, const Clock* clock);

  // What Take() returns from now on (taken_at is overwritten).
  void Set(v1::NodeSnapshot snapshot);
  // The node holds exactly `addresses`, one namespace each, and no sockets.
  void SetAddresses(const std::vector<std::string>& addresses);
  // The next `count` Take()s fail with `status`.
  void FailNext(int count, absl::Status status);

  // Take() calls so far, failed ones included.
  int takes() const;
  // Waits (bounded by `timeout`) until Take() was called `count` times.
  bool WaitForTakes(int count, absl::Duration timeout) const;

  absl::StatusOr<v1::NodeSnapshot> Take() override;

 private:
  const Clock* const clock_;
  mutable absl::Mutex mu_;
  v1::NodeSnapshot snapshot_ ABSL_GUARDED_BY(mu_);
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  int takes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ghostpeer::fakes

#endif  // GHOSTPEER_TESTS_FAKES_FAKE_SNAPSHOT_SOURCE_H_
