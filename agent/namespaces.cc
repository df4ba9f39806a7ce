#include "agent/namespaces.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "agent/proc_fs.h"
#include "common/errno_status.h"

namespace ghostpeer::agent {
namespace {

NamespaceKey KeyOf(const struct stat& st) {
  return NamespaceKey{static_cast<uint64_t>(st.st_dev),
                      static_cast<uint64_t>(st.st_ino)};
}

}  // namespace

NetnsEntry& NamespaceCatalog::Entry(const NamespaceKey& key) {
  NetnsEntry& entry = entries_[key];
  entry.key = key;
  return entry;
}

void NamespaceCatalog::SetOwn(const NamespaceKey& key, std::string path) {
  own_ = key;
  NetnsEntry& entry = Entry(key);
  entry.is_own = true;
  if (entry.path.empty()) entry.path = std::move(path);
}

void NamespaceCatalog::AddProcess(const NamespaceKey& key, int pid) {
  Entry(key).pids.push_back(pid);
  pids_.push_back(pid);
}

void NamespaceCatalog::AddNamedFile(const NamespaceKey& key, std::string path,
                                    std::string name) {
  NetnsEntry& entry = Entry(key);
  if (!entry.netns_name.empty()) return;
  entry.netns_name = std::move(name);
  // The own namespace keeps its no-setns handle.
  if (!entry.is_own) entry.path = std::move(path);
}

NamespaceListing NamespaceCatalog::Finish(const std::string& proc_root) && {
  NamespaceListing listing;
  listing.namespaces.reserve(entries_.size());
  for (auto& [key, entry] : entries_) {
    std::sort(entry.pids.begin(), entry.pids.end());
    entry.is_host = key == host_;
    if (entry.path.empty() && !entry.pids.empty()) {
      entry.path = absl::StrCat(proc_root, "/", entry.pids.front(), "/ns/net");
    }
    listing.namespaces.push_back(std::move(entry));
  }
  std::sort(
      listing.namespaces.begin(), listing.namespaces.end(),
      [](const NetnsEntry& a, const NetnsEntry& b) {
        return std::make_tuple(!a.is_host, !a.is_own, a.key.inode, a.key.dev) <
               std::make_tuple(!b.is_host, !b.is_own, b.key.inode, b.key.dev);
      });
  std::sort(pids_.begin(), pids_.end());
  listing.pids = std::move(pids_);
  listing.unreadable_pids = unreadable_pids_;
  listing.not_namespaces = std::move(not_namespaces_);
  return listing;
}

absl::StatusOr<NamespaceListing> ListNamespaces(
    const NamespaceListOptions& options) {
  NamespaceCatalog catalog;
  struct stat st;
  if (stat(options.own_netns.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("stat ", options.own_netns));
  }
  // Every nsfs handle lives on the same (nsfs) device; a netns directory
  // entry on another device is a leftover placeholder file, not a namespace.
  const uint64_t nsfs_dev = st.st_dev;
  catalog.SetOwn(KeyOf(st), options.own_netns);

  // The init namespace is pid 1's. Where pid 1 is not ours to inspect (a
  // sandbox's init), kthreadd (pid 2) tells as well: kernel threads always
  // live in the init namespace.
  if (stat(absl::StrCat(options.proc_root, "/1/ns/net").c_str(), &st) == 0) {
    catalog.SetHost(KeyOf(st));
  } else {
    absl::StatusOr<std::string> comm =
        ReadSmallFile(absl::StrCat(options.proc_root, "/2/comm"), 64);
    if (comm.ok() && *comm == "kthreadd\n" &&
        stat(absl::StrCat(options.proc_root, "/2/ns/net").c_str(), &st) == 0) {
      catalog.SetHost(KeyOf(st));
    }
  }

  absl::StatusOr<std::vector<int>> pids = ListPids(options.proc_root);
  if (!pids.ok()) return pids.status();
  std::string path;
  for (int pid : *pids) {
    path = absl::StrCat(options.proc_root, "/", pid, "/ns/net");
    if (stat(path.c_str(), &st) == 0) {
      catalog.AddProcess(KeyOf(st), pid);
    } else if (errno == EACCES || errno == EPERM) {
      catalog.AddUnreadablePid();
    }  // else gone meanwhile (ENOENT/ESRCH) or a zombie: nothing to report
  }

  for (const std::string& dir_path : options.netns_dirs) {
    DIR* dir = opendir(dir_path.c_str());
    if (dir == nullptr) continue;  // no `ip netns` / no Docker on this node
    std::vector<std::string> names;
    while (const dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      path = absl::StrCat(dir_path, "/", name);
      if (stat(path.c_str(), &st) != 0) continue;  // removed meanwhile
      if (static_cast<uint64_t>(st.st_dev) != nsfs_dev) {
        catalog.AddNotNamespace(path);
        continue;
      }
      catalog.AddNamedFile(KeyOf(st), path, name);
    }
  }
  return std::move(catalog).Finish(options.proc_root);
}

}  // namespace ghostpeer::agent
