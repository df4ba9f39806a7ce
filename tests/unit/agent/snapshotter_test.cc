#include "agent/snapshotter.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

// A task's namespace: the overlay address is cluster-wide, the
// docker_gwbridge one node-local, as Docker says; an address Docker does
// not list keeps no scope for the tracker to decide.
TEST(DescribeNamespaceTest, StampsTheScopeDockerGivesEachAddress) {
  ContainerInfo container;
  container.name = "gpx-srv.1.abc";
  container.service = "gpx-srv";
  container.task = "gpx-srv.1.abc";
  container.address_scopes = {{"10.0.1.6", v1::ADDRESS_SCOPE_CLUSTER},
                              {"172.18.0.3", v1::ADDRESS_SCOPE_NODE}};
  v1::NamespaceInfo ns;
  for (const char* address : {"10.0.1.6", "172.18.0.3", "10.200.0.2"}) {
    ns.add_addresses()->set_address(address);
  }
  DescribeNamespace(container, &ns);
  EXPECT_EQ(ns.container_name(), "gpx-srv.1.abc");
  EXPECT_EQ(ns.service(), "gpx-srv");
  EXPECT_EQ(ns.addresses(0).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(1).scope(), v1::ADDRESS_SCOPE_NODE);
  EXPECT_EQ(ns.addresses(2).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
}

// --cluster-cidr: unexplained addresses in the ranges become cluster-wide;
// Docker's word and addresses outside stay as they were.
TEST(ScopeByPrefixesTest, OnlyUnscopedAddressesInsideTheRanges) {
  std::vector<InetPrefix> prefixes;
  for (const char* text : {"10.99.0.0/16", "fd00:99::/64"}) {
    absl::StatusOr<InetPrefix> prefix = ParseInetPrefix(text);
    ASSERT_TRUE(prefix.ok()) << prefix.status();
    prefixes.push_back(*prefix);
  }
  v1::NamespaceInfo ns;
  for (const char* address :
       {"10.99.3.4", "10.98.0.1", "fd00:99::2", "fd00:98::2", "10.99.0.9"}) {
    ns.add_addresses()->set_address(address);
  }
  ns.mutable_addresses(4)->set_scope(v1::ADDRESS_SCOPE_NODE);  // Docker said
  ScopeByPrefixes(prefixes, &ns);
  EXPECT_EQ(ns.addresses(0).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(1).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
  EXPECT_EQ(ns.addresses(2).scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(ns.addresses(3).scope(), v1::ADDRESS_SCOPE_UNSPECIFIED);
  EXPECT_EQ(ns.addresses(4).scope(), v1::ADDRESS_SCOPE_NODE);
}

TEST(InetPrefixTest, ParseAndContain) {
  struct Case {
    const char* prefix;
    const char* address;
    bool inside;
  };
  const Case cases[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"172.18.0.0/17", "172.18.127.255", true},
      {"172.18.0.0/17", "172.18.128.0", false},
      {"0.0.0.0/0", "192.0.2.1", true},
      {"192.0.2.7/32", "192.0.2.7", true},
      {"fd00::/8", "fdff::1", true},
      {"fd00::/8", "10.0.0.1", false},  // another family
      {"10.0.0.0/8", "fd00::1", false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<InetPrefix> prefix = ParseInetPrefix(c.prefix);
    ASSERT_TRUE(prefix.ok()) << c.prefix;
    EXPECT_EQ(PrefixContains(*prefix, c.address), c.inside)
        << c.prefix << " " << c.address;
  }
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "fd00::/129", "x/8",
                          "10.0.0.0/-1", "10.0.0.0/8x"}) {
    EXPECT_EQ(ParseInetPrefix(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// A fake /proc for HowToReadTranslations: the files it looks at, present or
// not, in a fresh directory.
class FakeProc {
 public:
  explicit FakeProc(const std::string& name)
      : root_(::testing::TempDir() + "/gp-how-" + name) {
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/thread-self/net");
    std::filesystem::create_directories(root_ + "/sys/net/netfilter");
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  void Write(const std::string& path, const std::string& text) {
    std::ofstream(root_ + "/" + path) << text;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(HowToReadTranslationsTest, SkipsEmptyNamespacesAndPicksThePath) {
  struct Case {
    std::string name;
    std::string count;  // nf_conntrack_count; "-" for no file
    bool ipvs;          // ip_vs_conn exists
    bool file;          // nf_conntrack exists
    // nullopt: skipped; else use_ctnetlink.
    std::optional<bool> ctnetlink;
  };
  const std::vector<Case> cases = {
      {"no conntrack, no IPVS", "-", false, false, std::nullopt},
      {"no conntrack, IPVS", "-", true, false, false},
      {"nothing tracked, no IPVS", "0\n", false, true, std::nullopt},
      {"nothing tracked, IPVS: the cheap file", "0\n", true, true, false},
      {"few entries, file", "11\n", false, true, false},
      {"few entries, no file (no PROCFS)", "11\n", false, false, true},
      {"just below the threshold", "4095\n", false, true, false},
      {"at the threshold", "4096\n", false, true, true},
      {"many entries", "10000\n", false, true, true},
      {"unreadable count", "many\n", false, true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeProc proc(std::to_string(&c - cases.data()));
    if (c.count != "-")
      proc.Write("sys/net/netfilter/nf_conntrack_count", c.count);
    if (c.ipvs) proc.Write("thread-self/net/ip_vs_conn", "");
    if (c.file) proc.Write("thread-self/net/nf_conntrack", "");
    const std::optional<TranslationReadOptions> how =
        HowToReadTranslations(proc.root());
    ASSERT_EQ(how.has_value(), c.ctnetlink.has_value());
    if (how.has_value()) EXPECT_EQ(how->use_ctnetlink, *c.ctnetlink);
  }
}

}  // namespace
}  // namespace ghostpeer::agent
