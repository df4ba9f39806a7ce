// The one thread of the agent that changes network namespace. setns(2) moves
// only the calling thread, and a thread left in the wrong namespace would
// silently report another namespace's sockets, so every namespace hop happens
// here, on a thread that runs nothing else.
#ifndef GHOSTPEER_AGENT_NAMESPACE_WORKER_H_
#define GHOSTPEER_AGENT_NAMESPACE_WORKER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ghostpeer::agent {

class NamespaceWorker {
 public:
  // Starts the thread, which opens its own /proc/thread-self/ns/net to come
  // back to. Errors: the open's errno (then no thread is left running).
  static absl::StatusOr<std::unique_ptr<NamespaceWorker>> Create();

  // Stops and joins the thread. Pending calls complete first.
  ~NamespaceWorker();

  NamespaceWorker(const NamespaceWorker&) = delete;
  NamespaceWorker& operator=(const NamespaceWorker&) = delete;

  // Runs `fn` on the worker thread inside the network namespace opened from
  // `netns_path` (a /proc/<pid>/ns/net link or a bind-mounted nsfs file) and
  // returns its status; the thread returns to its own namespace afterwards.
  // An empty `netns_path` runs `fn` in the worker's own namespace. Blocks
  // until done. Thread-safe: calls are serialised.
  // Errors: opening `netns_path` (NotFound, PermissionDenied), setns into it
  // (PermissionDenied without CAP_SYS_ADMIN, InvalidArgument when the file is
  // not a namespace), FailedPrecondition once the worker is broken, or what
  // `fn` returns. If the thread cannot get back to its own namespace it is
  // broken for good: this call returns Internal and the thread ends.
  absl::Status RunIn(const std::string& netns_path,
                     std::function<absl::Status()> fn);

  // False once the thread failed to return to its namespace.
  bool healthy() const;

 private:
  struct Task {
    std::string netns_path;
    std::function<absl::Status()> fn;
    absl::Status* result;
    bool* finished;
  };

  NamespaceWorker() = default;
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Loop(int home_fd);
  absl::Status Execute(int home_fd, const Task& task);

  mutable absl::Mutex mutex_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool broken_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_NAMESPACE_WORKER_H_
