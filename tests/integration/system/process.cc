#include "tests/integration/system/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace ghostpeer::testing {
namespace {

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    // Own process group: a stop reaches the children it may start.
    setpgid(0, 0);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("cannot execute ", argv[0]));
  }
  const int log =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) return ErrnoToStatus(errno, absl::StrCat("open ", log_path));
  const pid_t pid = Spawn(argv, log, log);
  close(log);
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  return std::unique_ptr<Process>(new Process(pid, log_path));
}

Process::~Process() { Stop(SIGTERM, absl::Seconds(5)); }

bool Process::Running() {
  if (reaped_) return false;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    reaped_ = true;
    exit_code_ = DecodeWaitStatus(status);
    return false;
  }
  return done == 0;
}

int Process::Stop(int signal, absl::Duration grace) {
  if (!Running()) return exit_code_;
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (!Running()) return exit_code_;
    absl::SleepFor(absl::Milliseconds(20));
  }
  kill(-pid_, SIGKILL);  // the whole group
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  exit_code_ = DecodeWaitStatus(status);
  return exit_code_;
}

std::string Process::Log() const { return ReadAll(log_path_); }

CommandResult RunBinary(const std::vector<std::string>& argv,
                        absl::Duration timeout) {
  CommandResult result;
  char out_path[] = "/tmp/gp-cmd-out-XXXXXX";
  char err_path[] = "/tmp/gp-cmd-err-XXXXXX";
  const int out = mkstemp(out_path);
  const int err = mkstemp(err_path);
  if (out < 0 || err < 0) return result;
  const pid_t pid = Spawn(argv, out, err);
  close(out);
  close(err);
  if (pid > 0) {
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    while (true) {
      const pid_t done = waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        result.exit_code = DecodeWaitStatus(status);
        break;
      }
      if (absl::Now() > deadline) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        result.exit_code = 128 + SIGKILL;
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  unlink(out_path);
  unlink(err_path);
  return result;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace ghostpeer::testing
