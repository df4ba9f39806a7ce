// Socket inode -> owning process, and process -> comm and container id, with
// caches that make repeated snapshots cheap. `ss -p` spends 90% of its time
// reading every /proc/<pid>/fd of the machine; this index reads a process's
// fd table only when a socket nobody is known to own shows up, starts with
// the processes of the socket's own namespace, and skips processes whose fd
// count has not changed since their last scan.
#ifndef GHOSTPEER_AGENT_PROCESS_INDEX_H_
#define GHOSTPEER_AGENT_PROCESS_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "agent/fd_scanner.h"

namespace ghostpeer::agent {

struct ProcessIdentity {
  std::string comm;
  std::optional<std::string> container_id;  // from /proc/<pid>/cgroup
  uint64_t start_time = 0;
};

struct ProcessIndexStats {
  uint64_t fd_tables_scanned = 0;  // /proc/<pid>/fd directories read
  uint64_t fds_read = 0;           // fds stat()ed
  uint64_t cache_hits = 0;         // inodes answered from the cache
  uint64_t unresolved = 0;         // inodes no process was found for
};

// Not thread-safe: owned and used by one Snapshotter.
class ProcessIndex {
 public:
  // `scan_threads`: how many threads may read fd tables at once (see
  // FdScanner); 1 reads them on the caller's thread only.
  explicit ProcessIndex(std::string proc_root, int scan_threads = 1);

  // Starts a snapshot: `live_pids` (ascending) are the processes that exist
  // now; cache entries of other pids are dropped.
  void BeginSnapshot(absl::Span<const int> live_pids);

  // Reads now the fd tables of `pids` that are new or whose fd count
  // changed, so that ResolveOwners() finds their sockets in the cache. For
  // a first snapshot, where nearly every table is needed, run it beside the
  // dump (the caller makes sure nothing else uses the index meanwhile).
  void Prefetch(absl::Span<const int> pids);

  // True until a fd table has been read: the next resolution reads them all.
  bool cold() const { return fd_tables_.empty(); }

  // Finds the owning pid of each inode in `inodes` (0s ignored) and stores
  // it in `owners`. Looks in the cache, then scans the fd tables of
  // `namespace_pids` (new or changed ones first, then the rest), then of the
  // other live pids (a process can hold sockets of another namespace: it
  // created them from a thread that setns()'d, or received them). Inodes no
  // scan finds are remembered and only looked for again in processes that
  // are new or whose fd count changed. A table is read at most once per
  // snapshot. Unreadable fd tables (EACCES without CAP_SYS_PTRACE, or
  // exited) are skipped.
  void ResolveOwners(absl::Span<const int> namespace_pids,
                     absl::Span<const uint64_t> inodes,
                     absl::flat_hash_map<uint64_t, int>* owners);

  // comm, start time and container id of `pid`. /proc/<pid>/stat is read
  // once per snapshot; the cgroup only when the pid's start time changed
  // (pid reuse). nullptr if the process is gone. The pointer is valid until
  // the next call.
  const ProcessIdentity* Identity(int pid);

  const ProcessIndexStats& stats() const { return stats_; }

 private:
  struct FdTable {
    int64_t fd_count = -1;  // st_size of /proc/<pid>/fd at the scan
    std::vector<uint64_t> socket_inodes;
  };
  enum class ScanPass { kNewOrChanged, kAll };

  // The request to read `pid`'s fd table now, or nullopt: already read (or
  // found unreadable) in this snapshot, gone, or, for kNewOrChanged, with
  // the same fd count as at its last read. A pid it returns is marked read.
  std::optional<FdScanRequest> DueForScan(int pid, ScanPass pass);
  // Reads the fd tables of `batch` (all at once, on the scanner's threads)
  // and files what they hold.
  void ScanFdTables(absl::Span<const FdScanRequest> batch);
  int64_t FdCount(int pid) const;
  bool HasFreshMissing(const absl::flat_hash_set<uint64_t>& missing) const;
  bool Resolve(absl::Span<const int> pids, ScanPass pass,
               absl::flat_hash_set<uint64_t>& missing,
               absl::flat_hash_map<uint64_t, int>* owners);

  std::string proc_root_;
  FdScanner scanner_;
  std::vector<int> live_pids_;
  absl::flat_hash_set<int> live_set_;
  absl::flat_hash_map<uint64_t, int> owner_by_inode_;
  absl::flat_hash_map<int, FdTable> fd_tables_;
  // Pids whose fd table was read (or found unreadable) in this snapshot:
  // reading it again moments later would find the same sockets.
  absl::flat_hash_set<int> scanned_this_snapshot_;
  // Inodes no process was found for: last snapshot's and this one's.
  absl::flat_hash_set<uint64_t> unresolvable_;
  absl::flat_hash_set<uint64_t> unresolvable_next_;
  absl::flat_hash_map<int, ProcessIdentity> identities_;
  absl::flat_hash_set<int> verified_;  // identities checked this snapshot
  ProcessIndexStats stats_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_PROCESS_INDEX_H_
