// Running helper commands (`ip`, `ss`) from tests: fork/exec, bounded waits,
// stopped by pid. Never a shell.
#ifndef GHOSTPEER_TESTS_SUPPORT_COMMAND_H_
#define GHOSTPEER_TESTS_SUPPORT_COMMAND_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

// Runs argv[0] (looked up in PATH) with `argv`, waits at most `timeout`
// (then SIGKILLs it) and returns its stdout. Errors: Internal with the exit
// status and stderr when it fails, DeadlineExceeded on timeout.
absl::StatusOr<std::string> RunCommand(
    const std::vector<std::string>& argv,
    absl::Duration timeout = absl::Seconds(20));

// Forks a child that enters network namespace `netns` (a name under
// /var/run/netns, or "" to stay), then runs `body` and _exit(0)s. The child
// dies with the parent (PR_SET_PDEATHSIG). `body` should use syscalls only
// (the parent may be multithreaded). Returns the child's pid.
absl::StatusOr<pid_t> SpawnInNamespace(const std::string& netns,
                                       std::function<void()> body);

// Writes net sysctls (`key` as under /proc/sys, dots or slashes: "net.ipv4.
// ip_forward") inside network namespace `netns`. A container's /proc/sys is
// read-only (Docker mounts it so without --privileged) and `ip netns exec`
// remounts /sys, not /proc: where the write is refused, the child makes
// its own mount namespace and a fresh procfs, whose net sysctls are the
// namespace's own and writable with CAP_SYS_ADMIN.
absl::Status WriteSysctlsIn(
    const std::string& netns,
    const std::vector<std::pair<std::string, std::string>>& settings,
    absl::Duration timeout = absl::Seconds(10));

// Waits at most `timeout` for child `pid` to exit: its wait status, or -1
// on timeout (0 when it is not this process's child).
int WaitForExit(pid_t pid, absl::Duration timeout);

// SIGKILLs `pid` and reaps it, waiting at most `timeout`. OK if already gone.
absl::Status KillAndReap(pid_t pid, absl::Duration timeout = absl::Seconds(5));

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_COMMAND_H_
