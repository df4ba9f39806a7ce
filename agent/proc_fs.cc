#include "agent/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"
#include "common/utf8.h"

namespace ghostpeer::agent {

absl::StatusOr<std::vector<int>> ListPids(const std::string& proc_root) {
  DIR* dir = opendir(proc_root.c_str());
  if (dir == nullptr)
    return ErrnoToStatus(errno, absl::StrCat("opendir ", proc_root));
  std::vector<int> pids;
  while (const dirent* entry = readdir(dir)) {
    int pid;
    if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9' &&
        absl::SimpleAtoi(entry->d_name, &pid)) {
      pids.push_back(pid);
    }
  }
  closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string content;
  char buffer[16384];
  while (content.size() < max_bytes) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return ErrnoToStatus(error, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    content.append(buffer, std::min<size_t>(n, max_bytes - content.size()));
  }
  close(fd);
  return content;
}

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view content) {
  const size_t open = content.find('(');
  const size_t close = content.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos ||
      close < open) {
    return absl::InvalidArgumentError("/proc/<pid>/stat: no (comm)");
  }
  ProcStat stat;
  // Any process may name itself any 15 bytes (prctl(PR_SET_NAME)).
  stat.comm = RepairUtf8(content.substr(open + 1, close - open - 1));
  // After ") " come fields 3.. (state, ppid, ...); starttime is field 22.
  std::vector<absl::string_view> fields =
      absl::StrSplit(content.substr(close + 1), ' ', absl::SkipEmpty());
  constexpr size_t kStartTimeIndex = 22 - 3;
  if (fields.size() <= kStartTimeIndex ||
      !absl::SimpleAtoi(fields[kStartTimeIndex], &stat.start_time)) {
    return absl::InvalidArgumentError("/proc/<pid>/stat: no start time");
  }
  return stat;
}

}  // namespace ghostpeer::agent
