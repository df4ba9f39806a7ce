// An in-memory dockerd for the watcher's tests: canned GET responses set by
// the test, an event stream the test feeds line by line, and a switch that
// makes the daemon "go away" (every call Unavailable, the open stream cut).
#ifndef GHOSTPEER_TESTS_FAKES_FAKE_DOCKER_TRANSPORT_H_
#define GHOSTPEER_TESTS_FAKES_FAKE_DOCKER_TRANSPORT_H_

#include <deque>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/docker/docker_transport.h"

namespace ghostpeer::agent::docker {

class FakeDockerTransport final : public DockerTransport {
 public:
  // Answers GET `path` (exact match, query included) with `status`/`body`.
  void Set(const std::string& path, int status, std::string body) {
    absl::MutexLock lock(&mu_);
    responses_[path] = HttpResponse{status, std::move(body)};
  }
  void Remove(const std::string& path) {
    absl::MutexLock lock(&mu_);
    responses_.erase(path);
  }

  // Queues a line for the open (or next) event stream.
  void PushEvent(std::string line) {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }

  // While down, every call fails Unavailable and an open stream ends.
  void SetDown(bool down) {
    absl::MutexLock lock(&mu_);
    down_ = down;
  }

  // How many event streams have been opened so far.
  int streams_opened() const {
    absl::MutexLock lock(&mu_);
    return streams_opened_;
  }
  // Whether a stream is open right now.
  bool streaming() const {
    absl::MutexLock lock(&mu_);
    return streaming_;
  }
  std::string last_stream_path() const {
    absl::MutexLock lock(&mu_);
    return last_stream_path_;
  }

  // Blocks until `n` streams were opened and one is open now, or `timeout`.
  bool WaitForStream(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return streams_opened_ >= n && streaming_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }

  absl::StatusOr<HttpResponse> Get(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    if (down_) return absl::UnavailableError("fake dockerd is down");
    auto it = responses_.find(path);
    if (it == responses_.end()) {
      // What dockerd says about an unknown container, the common case.
      if (absl::StartsWith(path, "/containers/")) {
        return HttpResponse{404, R"({"message":"No such container"})"};
      }
      return HttpResponse{404, R"({"message":"page not found"})"};
    }
    return it->second;
  }

  absl::Status Stream(const std::string& path,
                      const std::function<void(absl::string_view)>& on_line,
                      const std::function<bool()>& should_stop) override {
    {
      absl::MutexLock lock(&mu_);
      if (down_) return absl::UnavailableError("fake dockerd is down");
      ++streams_opened_;
      streaming_ = true;
      last_stream_path_ = path;
    }
    // Polls like libcurl's progress callback, only faster. Lines are
    // delivered without the lock, so on_line may call Get().
    for (;;) {
      if (should_stop()) {
        SetStreaming(false);
        return absl::CancelledError("stopped");
      }
      std::string line;
      {
        absl::MutexLock lock(&mu_);
        auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return down_ || !lines_.empty();
        };
        mu_.AwaitWithTimeout(absl::Condition(&has_work), absl::Milliseconds(5));
        if (down_) {
          streaming_ = false;
          return absl::UnavailableError("fake dockerd went away");
        }
        if (lines_.empty()) continue;
        line = std::move(lines_.front());
        lines_.pop_front();
      }
      on_line(line);
    }
  }

 private:
  void SetStreaming(bool streaming) {
    absl::MutexLock lock(&mu_);
    streaming_ = streaming;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, HttpResponse> responses_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> lines_ ABSL_GUARDED_BY(mu_);
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  int streams_opened_ ABSL_GUARDED_BY(mu_) = 0;
  bool streaming_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_stream_path_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_TESTS_FAKES_FAKE_DOCKER_TRANSPORT_H_
