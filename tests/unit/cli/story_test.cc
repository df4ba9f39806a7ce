#include "cli/story.h"

#include "common/time_util.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/test_findings.h"

namespace ghostpeer::cli {
namespace {

using testing::TestNow;
using testing::VanishedFinding;

TEST(StoryTest, Endpoint) {
  struct Case {
    const char* name;
    const char* ip;
    uint32_t port;
    const char* want;
  };
  const Case cases[] = {
      {"v4", "10.0.1.6", 27017, "10.0.1.6:27017"},
      {"v6 bracketed", "fd00::6", 27017, "[fd00::6]:27017"},
      {"no port", "10.0.1.6", 0, "10.0.1.6"},
      {"no address", "", 80, "-"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(Endpoint(c.ip, c.port), c.want) << c.name;
}

TEST(StoryTest, ShortTaskNameDropsOnlyASwarmTaskId) {
  struct Case {
    const char* name;
    const char* full;
    const char* want;
  };
  const Case cases[] = {
      {"replicated task", "gp-e2e-cli.1.jv5rd47ey9nutvqzfed7jvk77",
       "gp-e2e-cli.1"},
      {"dotted service", "stack.orders.2.jv5rd47ey9nutvqzfed7jvk77",
       "stack.orders.2"},
      {"already short", "orders.2", "orders.2"},
      {"id of the wrong length", "orders.2.jv5rd47ey9", "orders.2.jv5rd47ey9"},
      {"upper case is no task id", "orders.2.JV5RD47EY9NUTVQZFED7JVK77",
       "orders.2.JV5RD47EY9NUTVQZFED7JVK77"},
      {"id alone", "x.jv5rd47ey9nutvqzfed7jvk77",
       "x.jv5rd47ey9nutvqzfed7jvk77"},
      {"plain container", "adhoc", "adhoc"},
      {"empty", "", ""},
  };
  for (const Case& c : cases)
    EXPECT_EQ(ShortTaskName(c.full), c.want) << c.name;
}

TEST(StoryTest, ComposedStoriesUseShortTaskNames) {
  v1::Finding finding = VanishedFinding();
  finding.mutable_socket()->set_task("gpx-cli.1.jv5rd47ey9nutvqzfed7jvk77");
  finding.mutable_peer_last_owner()->set_task(
      "gpx-srv.1.51pobf5rrfw66bof7wosx40np");
  EXPECT_EQ(ComposeStory(finding, {TestNow(), absl::UTCTimeZone()}),
            "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which "
            "belonged to gpx-srv.1 until 12:03:04; 1.8 KB at risk");
}

TEST(StoryTest, NamesClientsProcessesAndOwners) {
  v1::SocketRecord task;
  task.set_task("orders.2");
  task.set_container_name("orders.2.xyz");
  v1::SocketRecord container;
  container.set_container_name("adhoc");
  v1::SocketRecord netns;
  netns.set_netns_inode(4026532625);
  v1::SocketRecord process;
  process.set_pid(4242);
  process.set_comm("logc");
  v1::SocketRecord pid_only;
  pid_only.set_pid(7);

  v1::AddressOwner vip;
  vip.set_kind(v1::OWNER_KIND_SWARM_VIP);
  vip.set_service("mongo");
  v1::AddressOwner host;
  host.set_kind(v1::OWNER_KIND_HOST);
  host.set_node("node-3");
  v1::AddressOwner named_netns;
  named_netns.set_kind(v1::OWNER_KIND_NETNS);
  named_netns.set_netns("gpx-srv");
  v1::AddressOwner inode_netns;
  inode_netns.set_kind(v1::OWNER_KIND_NETNS);
  inode_netns.set_netns_inode(99);
  v1::AddressOwner owner_task;
  owner_task.set_task("mongo.1");
  owner_task.set_container_name("mongo.1.abc");

  struct Case {
    const char* name;
    std::string got;
    const char* want;
  };
  const Case cases[] = {
      {"client task first", ClientName(task), "orders.2"},
      {"client container", ClientName(container), "adhoc"},
      {"client netns", ClientName(netns), "netns:4026532625"},
      {"client host", ClientName(v1::SocketRecord()), "host"},
      {"process", ProcessName(process), "logc/4242"},
      {"process pid only", ProcessName(pid_only), "pid 7"},
      {"process none", ProcessName(v1::SocketRecord()), "-"},
      {"owner task", OwnerName(owner_task), "mongo.1"},
      {"owner vip", OwnerName(vip), "VIP of mongo"},
      {"owner host", OwnerName(host), "host node-3"},
      {"owner netns", OwnerName(named_netns), "netns gpx-srv"},
      {"owner netns inode", OwnerName(inode_netns), "netns inode:99"},
      {"owner nobody", OwnerName(v1::AddressOwner()), ""},
  };
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want) << c.name;
}

TEST(StoryTest, ComposesOneLineByKindAndSeverity) {
  const StoryContext context{TestNow(), absl::UTCTimeZone()};

  v1::Finding critical = VanishedFinding();

  v1::Finding idle = VanishedFinding();
  idle.set_severity(v1::WARNING);
  idle.set_bytes_at_risk(0);

  v1::Finding reassigned = VanishedFinding();
  reassigned.set_kind(v1::REASSIGNED_PEER);
  reassigned.mutable_peer_current_owner()->set_task("other.1");

  v1::Finding close_wait = VanishedFinding();
  close_wait.set_kind(v1::CLOSE_WAIT_WRITER);

  v1::Finding bare_netns = VanishedFinding();
  bare_netns.mutable_socket()->clear_task();
  bare_netns.mutable_socket()->clear_container_name();
  bare_netns.mutable_socket()->clear_service();
  bare_netns.clear_peer_last_owner();

  v1::Finding resolved = VanishedFinding();
  resolved.set_status(v1::RESOLVED);
  *resolved.mutable_resolved_at() = ToProto(TestNow() - absl::Minutes(2));

  v1::Finding yesterday = VanishedFinding();
  *yesterday.mutable_peer_last_owner()->mutable_until() =
      ToProto(TestNow() - absl::Hours(24));

  struct Case {
    const char* name;
    const v1::Finding& finding;
    const char* want;
  };
  const Case cases[] = {
      {"critical vanished (the alert's wording)", critical,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04; 1.8 KB at risk"},
      {"idle vanished", idle,
       "gpx-cli.1 on node-1 holds an idle connection to 10.99.0.2:27017, "
       "which belonged to gpx-srv.1 until 12:03:04; its next write will be "
       "lost"},
      {"reassigned", reassigned,
       "gpx-cli.1 on node-1 is connected to 10.99.0.2:27017, which belonged "
       "to gpx-srv.1 until 12:03:04 and now belongs to other.1; 1.8 KB at "
       "risk"},
      {"close-wait writer", close_wait,
       "gpx-cli.1 on node-1 keeps writing to 10.99.0.2:27017 after the peer "
       "closed the connection; 1.8 KB at risk"},
      {"no container, no known owner", bare_netns,
       "logc (pid 4242) in netns:4026532625 on node-1 is writing to "
       "10.99.0.2:27017, which nobody holds now; 1.8 KB at risk"},
      {"resolved", resolved,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04; 1.8 KB at risk (resolved 2m ago)"},
      {"left on another day", yesterday,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 2026-11-22 12:10:00; 1.8 KB at risk"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ComposeStory(c.finding, context), c.want) << c.name;
  }
}

TEST(StoryTest, PrefersTheServersStoryButNeverItsControlCharacters) {
  const StoryContext context{TestNow(), absl::UTCTimeZone()};
  v1::Finding finding = VanishedFinding();
  finding.set_story("orders.2 on node-3 is writing to 10.0.1.6\x1b[2J");
  EXPECT_EQ(FindingStory(finding, context),
            "orders.2 on node-3 is writing to 10.0.1.6?[2J");
  finding.clear_story();
  EXPECT_EQ(FindingStory(finding, context), ComposeStory(finding, context));
}

}  // namespace
}  // namespace ghostpeer::cli
