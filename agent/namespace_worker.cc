#include "agent/namespace_worker.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/logging.h"

namespace ghostpeer::agent {

absl::StatusOr<std::unique_ptr<NamespaceWorker>> NamespaceWorker::Create() {
  std::unique_ptr<NamespaceWorker> worker(new NamespaceWorker());
  // The home namespace must be the worker thread's own, opened by itself:
  // thread-self, not self, in case the creating thread was moved.
  std::promise<absl::Status> started;
  std::future<absl::Status> started_future = started.get_future();
  NamespaceWorker* raw = worker.get();
  worker->thread_ = std::thread([raw, &started] {
    const int home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home_fd < 0) {
      started.set_value(ErrnoToStatus(errno, "open /proc/thread-self/ns/net"));
      return;
    }
    started.set_value(absl::OkStatus());
    raw->Loop(home_fd);
    close(home_fd);
  });
  absl::Status status = started_future.get();
  if (!status.ok()) {
    worker->thread_.join();
    return status;
  }
  return worker;
}

NamespaceWorker::~NamespaceWorker() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool NamespaceWorker::healthy() const {
  absl::MutexLock lock(&mutex_);
  return !broken_;
}

absl::Status NamespaceWorker::RunIn(const std::string& netns_path,
                                    std::function<absl::Status()> fn) {
  absl::Status result;
  bool finished = false;
  absl::MutexLock lock(&mutex_);
  if (broken_) {
    return absl::FailedPreconditionError(
        "namespace worker is broken: it could not return to its namespace");
  }
  tasks_.push_back(Task{netns_path, std::move(fn), &result, &finished});
  mutex_.Await(absl::Condition(&finished));
  return result;
}

bool NamespaceWorker::HasWorkOrStopping() const {
  return stopping_ || !tasks_.empty();
}

void NamespaceWorker::Loop(int home_fd) {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(this, &NamespaceWorker::HasWorkOrStopping));
      if (tasks_.empty()) return;  // stopping, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    absl::Status status = Execute(home_fd, task);
    absl::MutexLock lock(&mutex_);
    *task.result = std::move(status);
    *task.finished = true;
    if (broken_) {
      // Fail whatever is queued: this thread's namespace is unknown now.
      for (Task& pending : tasks_) {
        *pending.result = absl::FailedPreconditionError(
            "namespace worker is broken: it could not return to its namespace");
        *pending.finished = true;
      }
      tasks_.clear();
      return;
    }
  }
}

absl::Status NamespaceWorker::Execute(int home_fd, const Task& task) {
  if (task.netns_path.empty()) return task.fn();
  const int target_fd = open(task.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target_fd < 0) {
    return ErrnoToStatus(errno, absl::StrCat("open ", task.netns_path));
  }
  if (setns(target_fd, CLONE_NEWNET) != 0) {
    const int error = errno;
    close(target_fd);
    return ErrnoToStatus(error, absl::StrCat("setns into ", task.netns_path));
  }
  close(target_fd);
  absl::Status status = task.fn();
  if (setns(home_fd, CLONE_NEWNET) != 0) {
    const int error = errno;
    GP_LOG_ERROR("namespace worker stuck in {}: setns back failed: {}",
                 task.netns_path, std::strerror(error));
    absl::MutexLock lock(&mutex_);
    broken_ = true;
    return absl::InternalError(absl::StrCat("setns back from ", task.netns_path,
                                            " failed: ", std::strerror(error),
                                            "; the namespace worker stopped"));
  }
  return status;
}

}  // namespace ghostpeer::agent
