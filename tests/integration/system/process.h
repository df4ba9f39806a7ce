// Real processes for system tests: started by path, stopped by pid.
#ifndef GHOSTPEER_TESTS_INTEGRATION_SYSTEM_PROCESS_H_
#define GHOSTPEER_TESTS_INTEGRATION_SYSTEM_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

// A child process whose stdout and stderr go to `log_path`. The destructor
// stops it (SIGTERM, then SIGKILL after 5 s) and reaps it, so a failing
// test leaves nothing running.
class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();

  pid_t pid() const { return pid_; }
  // True until the process exited (reaps it if it did).
  bool Running();
  // Sends `signal` (SIGTERM by default), waits up to `grace`, then SIGKILL.
  // Returns the exit code, or 128 + signal when a signal ended it.
  int Stop(int signal = 15, absl::Duration grace = absl::Seconds(5));
  // Everything it wrote so far.
  std::string Log() const;

 private:
  Process(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal if killed; -1 if it could not start
  std::string out;
  std::string err;
};

// Runs argv to completion (killed after `timeout`), capturing its output.
CommandResult RunBinary(const std::vector<std::string>& argv,
                        absl::Duration timeout = absl::Seconds(30));

// Polls `condition` every `poll` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll = absl::Milliseconds(200));

// A free TCP port on 127.0.0.1 (bound, read, released).
int FreeLoopbackPort();

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_INTEGRATION_SYSTEM_PROCESS_H_
