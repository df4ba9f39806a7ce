#include "cli/stop_signal.h"

namespace ghostpeer::cli {

void StopSignal::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  // TryCancel under the lock: Detach() cannot return (and the caller free
  // the context) while it runs.
  if (attached_ != nullptr) attached_->TryCancel();
}

bool StopSignal::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

void StopSignal::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  attached_ = context;
  if (stopped_) attached_->TryCancel();
}

void StopSignal::Detach() {
  absl::MutexLock lock(&mu_);
  attached_ = nullptr;
}

bool StopSignal::WaitFor(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&stopped_), duration);
}

}  // namespace ghostpeer::cli
