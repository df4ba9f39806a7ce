#include "agent/namespaces.h"

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

TEST(NamespaceCatalog, DedupesAndPicksHandles) {
  const NamespaceKey host{4, 100}, docker{4, 200}, named{4, 300}, empty{4, 400};
  NamespaceCatalog catalog;
  catalog.SetHost(host);
  catalog.SetOwn(host, "/proc/self/ns/net");
  for (int pid : {1, 2, 30}) catalog.AddProcess(host, pid);
  for (int pid : {501, 500}) catalog.AddProcess(docker, pid);
  catalog.AddProcess(named, 700);
  catalog.AddNamedFile(named, "/var/run/netns/gpx-cli", "gpx-cli");
  catalog.AddNamedFile(named, "/var/run/docker/netns/abc", "abc");
  catalog.AddNamedFile(empty, "/var/run/docker/netns/lb_73fsqapim",
                       "lb_73fsqapim");
  catalog.AddNamedFile(host, "/var/run/netns/host-alias", "host-alias");
  catalog.AddUnreadablePid();
  NamespaceListing listing = std::move(catalog).Finish("/host/proc");

  ASSERT_EQ(listing.namespaces.size(), 4u);
  EXPECT_EQ(listing.unreadable_pids, 1u);
  EXPECT_EQ(listing.pids, (std::vector<int>{1, 2, 30, 500, 501, 700}));

  const NetnsEntry& first = listing.namespaces[0];
  EXPECT_EQ(first.key, host);
  EXPECT_TRUE(first.is_host);
  EXPECT_TRUE(first.is_own);
  EXPECT_EQ(first.path, "/proc/self/ns/net");  // entered without setns
  EXPECT_EQ(first.netns_name, "host-alias");

  struct Case {
    const char* name;
    size_t index;
    NamespaceKey key;
    std::string path;
    std::string netns_name;
    std::vector<int> pids;
  };
  const Case cases[] = {
      {"container: lowest pid's link",
       1,
       docker,
       "/host/proc/500/ns/net",
       "",
       {500, 501}},
      {"named: first directory wins",
       2,
       named,
       "/var/run/netns/gpx-cli",
       "gpx-cli",
       {700}},
      {"no process: the bind mount",
       3,
       empty,
       "/var/run/docker/netns/lb_73fsqapim",
       "lb_73fsqapim",
       {}},
  };
  for (const Case& c : cases) {
    const NetnsEntry& entry = listing.namespaces[c.index];
    EXPECT_EQ(entry.key, c.key) << c.name;
    EXPECT_EQ(entry.path, c.path) << c.name;
    EXPECT_EQ(entry.netns_name, c.netns_name) << c.name;
    EXPECT_EQ(entry.pids, c.pids) << c.name;
    EXPECT_FALSE(entry.is_host) << c.name;
    EXPECT_FALSE(entry.is_own) << c.name;
  }
}

TEST(ListNamespaces, FindsOwnNamespaceAndSkipsMissingDirectories) {
  NamespaceListOptions options;
  options.netns_dirs = {"/nonexistent/netns"};
  absl::StatusOr<NamespaceListing> listing = ListNamespaces(options);
  ASSERT_TRUE(listing.ok()) << listing.status();
  int own = 0;
  for (const NetnsEntry& entry : listing->namespaces) own += entry.is_own;
  EXPECT_EQ(own, 1);
  EXPECT_FALSE(listing->pids.empty());
}

TEST(ListNamespaces, UnreadableProcRootIsAnError) {
  NamespaceListOptions options;
  options.proc_root = "/nonexistent/proc";
  EXPECT_FALSE(ListNamespaces(options).ok());
}

}  // namespace
}  // namespace ghostpeer::agent
