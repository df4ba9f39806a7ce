#include "agent/fd_scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/proc_fs.h"

namespace ghostpeer::agent {
namespace {

// One unit of work: a whole table read by readdir, or a slice of a large,
// dense one probed by fd number.
struct Task {
  size_t request = 0;
  bool by_number = false;
  int first_fd = 0;
  int end_fd = 0;
};

struct TaskResult {
  bool readable = false;
  uint64_t fds_read = 0;
  std::vector<uint64_t> socket_inodes;
};

// fstatat follows each fd's magic link to the inode itself: st_ino of a
// socket is the idiag_inode sock_diag reports. Measured here it costs half
// of readlink + parsing "socket:[N]".
bool StatSocket(int dir_fd, const char* name, uint64_t* inode) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, 0) != 0 || !S_ISSOCK(st.st_mode)) {
    return false;
  }
  *inode = st.st_ino;
  return true;
}

void ReadWholeTable(int dir_fd, TaskResult* out) {
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return;
  }
  out->readable = true;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    ++out->fds_read;
    uint64_t inode;
    if (StatSocket(dir_fd, entry->d_name, &inode)) {
      out->socket_inodes.push_back(inode);
    }
  }
  closedir(dir);  // closes dir_fd
}

// Probes fd numbers [first, end) by name. A probe of a free slot costs
// about 2.6 us (a negative lookup), so it stops once the whole table's
// fds are found (`found` is shared by the table's slices).
void ReadSlice(int dir_fd, const Task& task, int64_t fd_count,
               std::atomic<int64_t>* found, TaskResult* out) {
  out->readable = true;
  char name[16];
  int64_t found_here = 0;
  for (int fd = task.first_fd; fd < task.end_fd; ++fd) {
    if ((fd & 63) == 0 &&
        found->load(std::memory_order_relaxed) + found_here >= fd_count) {
      break;
    }
    auto [end, ec] = std::to_chars(name, name + sizeof(name) - 1, fd);
    *end = '\0';
    struct stat st;
    if (fstatat(dir_fd, name, &st, 0) != 0) continue;
    ++found_here;
    ++out->fds_read;
    if (S_ISSOCK(st.st_mode)) out->socket_inodes.push_back(st.st_ino);
  }
  found->fetch_add(found_here, std::memory_order_relaxed);
  close(dir_fd);
}

}  // namespace

int64_t ParseFdTableSize(const std::string& status) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, "FDSize:")) continue;
    int64_t size = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &size) && size > 0) {
      return size;
    }
    return 0;
  }
  return 0;
}

FdScanner::FdScanner(FdScannerOptions options) : options_(std::move(options)) {
  options_.threads = std::max(1, options_.threads);
  options_.slice_fds = std::max(1, options_.slice_fds);
}

std::vector<FdScanResult> FdScanner::Scan(
    absl::Span<const FdScanRequest> requests) {
  // 1. Plan: large dense tables become slices, the rest one task each.
  //    Tables are dealt round-robin, largest first: readers working in the
  //    same fd directory at once serialize on its lock (every lookup adds
  //    a dentry under it), in different ones they do not.
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return requests[a].fd_count > requests[b].fd_count;
  });
  std::vector<std::vector<Task>> per_table;
  per_table.reserve(order.size());
  int64_t total_fds = 0;
  for (size_t i : order) {
    const FdScanRequest& request = requests[i];
    total_fds += std::max<int64_t>(request.fd_count, 1);
    int64_t table_size = 0;
    if (options_.threads > 1 && request.fd_count >= options_.split_fd_count) {
      absl::StatusOr<std::string> status = ReadSmallFile(
          absl::StrCat(options_.proc_root, "/", request.pid, "/status"),
          64 * 1024);
      if (status.ok()) table_size = ParseFdTableSize(*status);
    }
    std::vector<Task>& table_tasks = per_table.emplace_back();
    // Dense: free slots (each a costly negative lookup) at most as many
    // as fds. Otherwise readdir, which visits only the open ones.
    if (table_size > 0 && table_size <= 2 * request.fd_count + 64) {
      for (int64_t first = 0; first < table_size; first += options_.slice_fds) {
        table_tasks.push_back(
            Task{i, true, static_cast<int>(first),
                 static_cast<int>(std::min<int64_t>(first + options_.slice_fds,
                                                    table_size))});
      }
    } else {
      table_tasks.push_back(Task{i, false, 0, 0});
    }
  }
  std::vector<Task> tasks;
  for (size_t round = 0;; ++round) {
    const size_t before = tasks.size();
    for (const std::vector<Task>& table_tasks : per_table) {
      if (round < table_tasks.size()) tasks.push_back(table_tasks[round]);
    }
    if (tasks.size() == before) break;
  }

  // 2. Run: every reader takes the next task until none is left.
  std::vector<TaskResult> task_results(tasks.size());
  std::unique_ptr<std::atomic<int64_t>[]> found(
      new std::atomic<int64_t>[requests.size()]);
  for (size_t i = 0; i < requests.size(); ++i) found[i] = 0;
  std::atomic<size_t> next_task{0};
  const auto reader = [&] {
    for (size_t t = next_task++; t < tasks.size(); t = next_task++) {
      const Task& task = tasks[t];
      const FdScanRequest& request = requests[task.request];
      const std::string path =
          absl::StrCat(options_.proc_root, "/", request.pid, "/fd");
      const int dir_fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd < 0) continue;  // exited, or not ours to read
      if (task.by_number) {
        ReadSlice(dir_fd, task, request.fd_count, &found[task.request],
                  &task_results[t]);
      } else {
        ReadWholeTable(dir_fd, &task_results[t]);
      }
    }
  };
  const int helpers =
      total_fds < options_.parallel_fd_count
          ? 0
          : static_cast<int>(std::min<size_t>(options_.threads, tasks.size())) -
                1;
  std::vector<std::thread> threads;
  threads.reserve(std::max(helpers, 0));
  for (int i = 0; i < helpers; ++i) threads.emplace_back(reader);
  reader();
  for (std::thread& thread : threads) thread.join();

  // 3. Gather the slices of each table.
  std::vector<FdScanResult> results(requests.size());
  for (size_t t = 0; t < tasks.size(); ++t) {
    FdScanResult& result = results[tasks[t].request];
    TaskResult& part = task_results[t];
    result.readable = result.readable || part.readable;
    result.fds_read += part.fds_read;
    if (result.socket_inodes.empty()) {
      result.socket_inodes = std::move(part.socket_inodes);
    } else {
      result.socket_inodes.insert(result.socket_inodes.end(),
                                  part.socket_inodes.begin(),
                                  part.socket_inodes.end());
    }
  }
  return results;
}

}  // namespace ghostpeer::agent
