// Finding every network namespace of the node: the agent's own, the one of
// every process under --proc-root, and every bind-mounted namespace file
// (`ip netns` keeps them in /var/run/netns, Docker in /var/run/docker/netns),
// deduplicated by the namespace's identity (device, inode).
#ifndef GHOSTPEER_AGENT_NAMESPACES_H_
#define GHOSTPEER_AGENT_NAMESPACES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace ghostpeer::agent {

// A namespace's identity: st_dev and st_ino of any nsfs handle to it.
struct NamespaceKey {
  uint64_t dev = 0;
  uint64_t inode = 0;

  friend bool operator==(const NamespaceKey& a, const NamespaceKey& b) {
    return a.dev == b.dev && a.inode == b.inode;
  }
  friend bool operator!=(const NamespaceKey& a, const NamespaceKey& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H state, const NamespaceKey& key) {
    return H::combine(std::move(state), key.dev, key.inode);
  }
};

// One distinct network namespace.
struct NetnsEntry {
  NamespaceKey key;
  // The handle to enter it through: a named file if there is one (stable,
  // cannot race with a process exit), else /proc/<lowest pid>/ns/net. For the
  // agent's own namespace, "/proc/self/ns/net" (entered without setns).
  std::string path;
  // The file name under the first netns directory that has one, if any.
  std::string netns_name;
  std::vector<int> pids;  // the processes inside it, ascending
  bool is_host = false;   // same namespace as <proc_root>/1 (the init netns)
  bool is_own = false;    // the agent's own namespace
};

struct NamespaceListing {
  // The host's namespace first, then the agent's own, then by inode.
  std::vector<NetnsEntry> namespaces;
  // Every pid whose namespace was identified, ascending.
  std::vector<int> pids;
  // Pids whose ns link could not be read (EACCES: no CAP_SYS_PTRACE for
  // them); their namespaces may be missing unless reachable otherwise.
  uint32_t unreadable_pids = 0;
  // Entries of the netns directories that are not namespace handles (e.g.
  // the empty files a plain bind mount of /var/run/docker/netns leaves).
  std::vector<std::string> not_namespaces;
};

// Pure accumulation of observations into a NamespaceListing; ListNamespaces
// feeds it from the file system. Not thread-safe.
class NamespaceCatalog {
 public:
  void SetHost(const NamespaceKey& key) { host_ = key; }
  void SetOwn(const NamespaceKey& key, std::string path);
  // Process `pid` lives in namespace `key` (seen through `path`).
  void AddProcess(const NamespaceKey& key, int pid);
  // A bind-mounted handle `path` named `name`; the first one added for a
  // namespace wins, so add directories in priority order.
  void AddNamedFile(const NamespaceKey& key, std::string path,
                    std::string name);
  void AddUnreadablePid() { ++unreadable_pids_; }
  void AddNotNamespace(std::string path) {
    not_namespaces_.push_back(std::move(path));
  }
  NamespaceListing Finish(const std::string& proc_root) &&;

 private:
  NetnsEntry& Entry(const NamespaceKey& key);

  absl::flat_hash_map<NamespaceKey, NetnsEntry> entries_;
  std::vector<int> pids_;
  NamespaceKey host_;
  NamespaceKey own_;
  uint32_t unreadable_pids_ = 0;
  std::vector<std::string> not_namespaces_;
};

struct NamespaceListOptions {
  std::string proc_root = "/proc";
  std::vector<std::string> netns_dirs = {"/var/run/netns",
                                         "/var/run/docker/netns"};
  // The agent's own namespace handle (the real /proc, not proc_root).
  std::string own_netns = "/proc/self/ns/net";
};

// Lists the node's network namespaces. Processes that exit meanwhile and
// netns directories that do not exist are skipped silently. Errors: only when
// nothing can be listed (the agent's own namespace or proc_root unreadable).
absl::StatusOr<NamespaceListing> ListNamespaces(
    const NamespaceListOptions& options);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_NAMESPACES_H_
