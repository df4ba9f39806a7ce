// Small readers of /proc (or a host /proc mounted elsewhere) and the pure
// parsers behind them. The readers are thread-safe (no shared state).
#ifndef GHOSTPEER_AGENT_PROC_FS_H_
#define GHOSTPEER_AGENT_PROC_FS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ghostpeer::agent {

// The numeric entries of `proc_root` (the pids), ascending. Errors: the
// opendir errno.
absl::StatusOr<std::vector<int>> ListPids(const std::string& proc_root);

// Reads a whole (small, /proc-like) file, at most `max_bytes`. Errors: the
// open/read errno (NotFound when the process is gone).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes = 1 << 20);

// From /proc/<pid>/stat: the command name and the start time (clock ticks
// after boot), which together with the pid identify a process across pid
// reuse.
struct ProcStat {
  std::string comm;
  uint64_t start_time = 0;
};

// Parses /proc/<pid>/stat content. The comm is the text between the first
// '(' and the LAST ')' (a comm may itself contain ") "), made UTF-8 with
// RepairUtf8 (a process may name itself any bytes). InvalidArgument for
// anything else.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view content);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_PROC_FS_H_
