#include "agent/process_index.h"

#include <sys/stat.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/cgroup.h"
#include "agent/proc_fs.h"

namespace ghostpeer::agent {

ProcessIndex::ProcessIndex(std::string proc_root, int scan_threads)
    : proc_root_(std::move(proc_root)),
      scanner_(FdScannerOptions{proc_root_, scan_threads}) {}

void ProcessIndex::BeginSnapshot(absl::Span<const int> live_pids) {
  live_pids_.assign(live_pids.begin(), live_pids.end());
  live_set_.clear();
  live_set_.insert(live_pids.begin(), live_pids.end());
  verified_.clear();
  scanned_this_snapshot_.clear();
  for (auto it = fd_tables_.begin(); it != fd_tables_.end();) {
    if (live_set_.contains(it->first)) {
      ++it;
      continue;
    }
    for (uint64_t inode : it->second.socket_inodes) {
      auto owner = owner_by_inode_.find(inode);
      if (owner != owner_by_inode_.end() && owner->second == it->first) {
        owner_by_inode_.erase(owner);
      }
    }
    fd_tables_.erase(it++);
  }
  for (auto it = identities_.begin(); it != identities_.end();) {
    if (live_set_.contains(it->first)) {
      ++it;
    } else {
      identities_.erase(it++);
    }
  }
  // Unresolvable inodes are remembered for one snapshot only, so sockets
  // that went away do not accumulate.
  unresolvable_ = std::move(unresolvable_next_);
  unresolvable_next_.clear();
}

int64_t ProcessIndex::FdCount(int pid) const {
  // Since Linux 6.2 the size of /proc/<pid>/fd is the number of open fds: a
  // one-syscall hint that a process's fd table changed. Older kernels say 0
  // and the index falls back to full scans when inodes are missing.
  struct stat st;
  const std::string path = absl::StrCat(proc_root_, "/", pid, "/fd");
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

void ProcessIndex::ScanFdTables(absl::Span<const FdScanRequest> batch) {
  std::vector<FdScanResult> results = scanner_.Scan(batch);
  for (size_t i = 0; i < batch.size(); ++i) {
    const int pid = batch[i].pid;
    FdTable& table = fd_tables_[pid];
    for (uint64_t inode : table.socket_inodes) {
      auto owner = owner_by_inode_.find(inode);
      if (owner != owner_by_inode_.end() && owner->second == pid) {
        owner_by_inode_.erase(owner);
      }
    }
    table.fd_count = batch[i].fd_count;
    table.socket_inodes = std::move(results[i].socket_inodes);
    ++stats_.fd_tables_scanned;
    stats_.fds_read += results[i].fds_read;
    for (uint64_t inode : table.socket_inodes) owner_by_inode_[inode] = pid;
  }
}

std::optional<FdScanRequest> ProcessIndex::DueForScan(int pid, ScanPass pass) {
  if (scanned_this_snapshot_.contains(pid)) return std::nullopt;
  const int64_t count = FdCount(pid);
  if (count < 0) {
    // Gone or unreadable: no point asking again in this snapshot.
    scanned_this_snapshot_.insert(pid);
    return std::nullopt;
  }
  if (pass == ScanPass::kNewOrChanged) {
    auto it = fd_tables_.find(pid);
    // Unchanged: left for a kAll pass, if one runs.
    if (it != fd_tables_.end() && it->second.fd_count == count) {
      return std::nullopt;
    }
  }
  scanned_this_snapshot_.insert(pid);
  return FdScanRequest{pid, count};
}

void ProcessIndex::Prefetch(absl::Span<const int> pids) {
  std::vector<FdScanRequest> tables;
  for (int pid : pids) {
    if (auto due = DueForScan(pid, ScanPass::kNewOrChanged)) {
      tables.push_back(*due);
    }
  }
  ScanFdTables(tables);
}

bool ProcessIndex::Resolve(absl::Span<const int> pids, ScanPass pass,
                           absl::flat_hash_set<uint64_t>& missing,
                           absl::flat_hash_map<uint64_t, int>* owners) {
  // Tables are read in batches of about kBatchFds fds: enough to keep the
  // scanner's threads busy, few enough that a pass stops soon after the
  // last missing inode turns up.
  constexpr int64_t kBatchFds = 16384;
  std::vector<FdScanRequest> batch;
  int64_t batch_fds = 0;
  const auto scan_batch = [&] {
    ScanFdTables(batch);
    for (const FdScanRequest& request : batch) {
      for (uint64_t inode : fd_tables_[request.pid].socket_inodes) {
        if (missing.erase(inode) > 0) (*owners)[inode] = request.pid;
      }
    }
    batch.clear();
    batch_fds = 0;
    return missing.empty();
  };
  for (int pid : pids) {
    std::optional<FdScanRequest> due = DueForScan(pid, pass);
    if (!due.has_value()) continue;
    batch.push_back(*due);
    // Kernels before 6.2 say 0: count such a table as a typical small one.
    batch_fds += due->fd_count > 0 ? due->fd_count : 64;
    if (batch_fds >= kBatchFds && scan_batch()) return true;
  }
  return batch.empty() ? missing.empty() : scan_batch();
}

bool ProcessIndex::HasFreshMissing(
    const absl::flat_hash_set<uint64_t>& missing) const {
  for (uint64_t inode : missing) {
    if (!unresolvable_.contains(inode) && !unresolvable_next_.contains(inode)) {
      return true;
    }
  }
  return false;
}

void ProcessIndex::ResolveOwners(absl::Span<const int> namespace_pids,
                                 absl::Span<const uint64_t> inodes,
                                 absl::flat_hash_map<uint64_t, int>* owners) {
  absl::flat_hash_set<uint64_t> missing;
  for (uint64_t inode : inodes) {
    if (inode == 0) continue;
    auto it = owner_by_inode_.find(inode);
    if (it != owner_by_inode_.end() && live_set_.contains(it->second)) {
      (*owners)[inode] = it->second;
      ++stats_.cache_hits;
    } else {
      missing.insert(inode);
    }
  }
  if (missing.empty()) return;

  // Cheapest first: the namespace's own processes that are new or whose fd
  // count moved, then all of them, then everybody else likewise. A full pass
  // runs only for inodes not already known to be unresolvable, so a socket
  // whose owner we cannot see does not cost a full scan every snapshot.
  if (Resolve(namespace_pids, ScanPass::kNewOrChanged, missing, owners)) return;
  if (HasFreshMissing(missing) &&
      Resolve(namespace_pids, ScanPass::kAll, missing, owners)) {
    return;
  }
  if (Resolve(live_pids_, ScanPass::kNewOrChanged, missing, owners)) return;
  if (HasFreshMissing(missing) &&
      Resolve(live_pids_, ScanPass::kAll, missing, owners)) {
    return;
  }
  stats_.unresolved += missing.size();
  unresolvable_next_.insert(missing.begin(), missing.end());
}

const ProcessIdentity* ProcessIndex::Identity(int pid) {
  auto it = identities_.find(pid);
  // One /proc/<pid>/stat read per process per snapshot, not per socket.
  if (it != identities_.end() && verified_.contains(pid)) return &it->second;
  absl::StatusOr<std::string> stat_text =
      ReadSmallFile(absl::StrCat(proc_root_, "/", pid, "/stat"), 4096);
  absl::StatusOr<ProcStat> stat =
      stat_text.ok() ? ParseProcStat(*stat_text) : stat_text.status();
  if (!stat.ok()) {
    if (it != identities_.end()) identities_.erase(it);
    return nullptr;
  }
  verified_.insert(pid);
  if (it != identities_.end() && it->second.start_time == stat->start_time) {
    // The same process, but exec and prctl(PR_SET_NAME) rename it: a task
    // first seen as runc:[2:INIT] must not keep that name for its lifetime.
    it->second.comm = std::move(stat->comm);
    return &it->second;
  }
  ProcessIdentity identity;
  identity.comm = std::move(stat->comm);
  identity.start_time = stat->start_time;
  absl::StatusOr<std::string> cgroup =
      ReadSmallFile(absl::StrCat(proc_root_, "/", pid, "/cgroup"), 64 * 1024);
  if (cgroup.ok()) identity.container_id = ContainerIdFromCgroup(*cgroup);
  ProcessIdentity& stored = identities_[pid];
  stored = std::move(identity);
  return &stored;
}

}  // namespace ghostpeer::agent
