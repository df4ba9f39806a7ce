// How a signal-handling thread (or a test) stops a command that is blocked
// in a gRPC call: the command attaches the call's context, Stop() cancels it.
#ifndef GHOSTPEER_CLI_STOP_SIGNAL_H_
#define GHOSTPEER_CLI_STOP_SIGNAL_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"

namespace ghostpeer::cli {

// Thread-safe. Once stopped, stays stopped.
class StopSignal {
 public:
  StopSignal() = default;
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Marks the signal stopped, cancels the attached call if any, and wakes
  // WaitFor(). Idempotent; safe from any thread (not from a signal handler:
  // call it from a thread that sigwait()s).
  void Stop();

  bool stopped() const;

  // Cancels `context` when Stop() is called, at once if it already was,
  // until Detach(). `context` must stay alive until Detach(). One at a time.
  void Attach(grpc::ClientContext* context);
  void Detach();

  // Sleeps up to `duration`; returns true (early) if stopped.
  bool WaitFor(absl::Duration duration);

 private:
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* attached_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Attaches `context` to `signal` (if not null) for the scope's lifetime.
class ScopedStopAttachment {
 public:
  ScopedStopAttachment(StopSignal* signal, grpc::ClientContext* context)
      : signal_(signal) {
    if (signal_ != nullptr) signal_->Attach(context);
  }
  ~ScopedStopAttachment() {
    if (signal_ != nullptr) signal_->Detach();
  }
  ScopedStopAttachment(const ScopedStopAttachment&) = delete;
  ScopedStopAttachment& operator=(const ScopedStopAttachment&) = delete;

 private:
  StopSignal* const signal_;
};

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_STOP_SIGNAL_H_
