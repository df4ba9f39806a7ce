#include "tests/support/command.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errno_status.h"

namespace ghostpeer::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Waits for `pid` until `deadline`; returns its wait status or -1 on timeout.
int WaitUntil(pid_t pid, SteadyClock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return 0;  // not our child any more
    if (SteadyClock::now() >= deadline) return -1;
    usleep(2000);
  }
}

}  // namespace

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return ErrnoToStatus(errno, "pipe2");
  }
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  const SteadyClock::time_point deadline =
      SteadyClock::now() + absl::ToChronoNanoseconds(timeout);
  std::string out, err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buffer[65536];
  while (open_fds > 0 && SteadyClock::now() < deadline) {
    if (poll(fds, 2, 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        (i == 0 ? out : err).append(buffer, n);
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  const int status = WaitUntil(pid, deadline);
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::DeadlineExceededError(
        absl::StrCat(absl::StrJoin(argv, " "), ": timed out after ",
                     absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        absl::StrJoin(argv, " "), ": exit status ",
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ": ",
        err));
  }
  return out;
}

absl::StatusOr<pid_t> SpawnInNamespace(const std::string& netns,
                                       std::function<void()> body) {
  int target = -1;
  if (!netns.empty()) {
    const std::string path = absl::StrCat("/var/run/netns/", netns);
    target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    if (target >= 0) close(target);
    return ErrnoToStatus(error, "fork");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl
    if (target >= 0 && setns(target, CLONE_NEWNET) != 0) _exit(2);
    body();
    _exit(0);
  }
  if (target >= 0) close(target);
  return pid;
}

absl::Status WriteSysctlsIn(
    const std::string& netns,
    const std::vector<std::pair<std::string, std::string>>& settings,
    absl::Duration timeout) {
  // Paths and values prepared here: the child only makes syscalls.
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [key, value] : settings) {
    std::string path = key;
    for (char& c : path) {
      if (c == '.') c = '/';
    }
    files.emplace_back(absl::StrCat("/proc/sys/", path), value + "\n");
  }
  auto write_all = [&files]() {
    for (const auto& [path, value] : files) {
      const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return false;
      const bool ok = write(fd, value.data(), value.size()) ==
                      static_cast<ssize_t>(value.size());
      close(fd);
      if (!ok) return false;
    }
    return true;
  };
  absl::StatusOr<pid_t> child = SpawnInNamespace(netns, [&write_all]() {
    if (write_all()) return;
    if (unshare(CLONE_NEWNS) != 0) _exit(3);
    // Nothing mounted here may reach the parent's mount namespace.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
      _exit(4);
    }
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
      _exit(5);
    }
    if (!write_all()) _exit(6);
  });
  if (!child.ok()) return child.status();
  const int status = WaitUntil(
      *child, SteadyClock::now() + absl::ToChronoNanoseconds(timeout));
  if (status == -1) {
    KillAndReap(*child).IgnoreError();
    return absl::DeadlineExceededError(
        absl::StrCat("sysctl writes in ", netns, " did not finish"));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : settings) keys.push_back(key);
    return absl::InternalError(
        absl::StrCat("cannot write ", absl::StrJoin(keys, ", "), " in ", netns,
                     " (child status ", status,
                     ": 2 setns, 3 unshare, 4-5 mount, 6 write)"));
  }
  return absl::OkStatus();
}

int WaitForExit(pid_t pid, absl::Duration timeout) {
  return WaitUntil(pid,
                   SteadyClock::now() + absl::ToChronoNanoseconds(timeout));
}

absl::Status KillAndReap(pid_t pid, absl::Duration timeout) {
  if (pid <= 0) return absl::OkStatus();
  if (kill(pid, SIGKILL) != 0 && errno != ESRCH) {
    return ErrnoToStatus(errno, absl::StrCat("kill ", pid));
  }
  if (WaitUntil(pid, SteadyClock::now() + absl::ToChronoNanoseconds(timeout)) ==
      -1) {
    return absl::DeadlineExceededError(
        absl::StrCat("pid ", pid, " did not exit"));
  }
  return absl::OkStatus();
}

}  // namespace ghostpeer::testing
