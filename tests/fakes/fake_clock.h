// A clock that moves only when the test says so.
#ifndef GHOSTPEER_TESTS_FAKES_FAKE_CLOCK_H_
#define GHOSTPEER_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/time_util.h"

namespace ghostpeer::fakes {

// Thread-safe: the code under test reads it from its own threads while the
// test sets it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::fakes

#endif  // GHOSTPEER_TESTS_FAKES_FAKE_CLOCK_H_
