// Reads processes' fd tables for the socket inodes they hold, on several
// threads. The cost is procfs's, paid in the kernel per fd (a dentry made
// and a magic link followed: about 6 us each when cold), so it scales with
// cores; a single large table is split by fd number so that one process
// with 100,000 sockets does not leave the other cores idle.
//
// Considered and rejected: pidfd_getfd() + fstat() is three times cheaper
// per fd, but the close() of each borrowed fd calls the file's ->flush,
// which on FUSE and NFS is a round trip to the daemon or server: an agent
// must not block on, or cause work in, a filesystem it does not watch.
#ifndef GHOSTPEER_AGENT_FD_SCANNER_H_
#define GHOSTPEER_AGENT_FD_SCANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace ghostpeer::agent {

struct FdScanRequest {
  int pid = 0;
  // Open fds as /proc/<pid>/fd's st_size says (Linux >= 6.2); 0 when the
  // kernel does not say. Large known counts are split across threads.
  int64_t fd_count = 0;
};

struct FdScanResult {
  bool readable = false;  // false: exited, or not ours to read
  uint64_t fds_read = 0;  // fds stat()ed
  std::vector<uint64_t> socket_inodes;
};

struct FdScannerOptions {
  std::string proc_root = "/proc";
  int threads = 1;  // readers at most, the calling thread one of them
  // Tables with at least this many fds (by fd_count) are split by fd
  // number, in slices of `slice_fds` numbers.
  int64_t split_fd_count = 4096;
  int slice_fds = 2048;
  // Below this many fds in one call, threads cost more than they save.
  int64_t parallel_fd_count = 2048;
};

class FdScanner {
 public:
  explicit FdScanner(FdScannerOptions options);

  // One result per request, in order. Keeps no state between calls.
  std::vector<FdScanResult> Scan(absl::Span<const FdScanRequest> requests);

 private:
  FdScannerOptions options_;
};

// The "FDSize:" line of /proc/<pid>/status: the size of the fd table, one
// past the highest fd number the process can hold now. 0 when absent.
int64_t ParseFdTableSize(const std::string& status);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_FD_SCANNER_H_
