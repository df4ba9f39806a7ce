#include "common/story.h"

#include <string>
#include <vector>

#include "common/time_util.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/test_findings.h"

namespace ghostpeer {
namespace {

// The CLI's canned finding: gpx-cli.1 (logc, pid 4242) on node-1 writing to
// 10.99.0.2:27017, which gpx-srv.1 left at 12:03:04; 1833 bytes at risk;
// every story here told at 12:10:00 on that day.
absl::Time Now() { return cli::testing::TestNow(); }
v1::Finding Vanished() { return cli::testing::VanishedFinding(); }

// The sentence ComposeStory ends a TCP vanished or reassigned story with
// (pinned on its own in RetryAdviceTest); the story cases below are about
// what comes before it.
std::string Advice(const v1::Finding& finding) {
  const bool advised = (finding.kind() == v1::VANISHED_PEER ||
                        finding.kind() == v1::REASSIGNED_PEER) &&
                       finding.socket().protocol() != v1::PROTOCOL_UDP;
  return advised ? ". " + RetryAdvice(finding.socket()) : "";
}

TEST(StoryTest, ComposesOneLineByKindSeverityAndStatus) {
  const StoryContext utc{Now()};

  v1::Finding idle = Vanished();
  idle.set_severity(v1::WARNING);
  idle.set_bytes_at_risk(0);

  v1::Finding warning_with_data = idle;
  warning_with_data.set_bytes_at_risk(70 * 1024);

  v1::Finding long_names = Vanished();
  long_names.mutable_socket()->set_task("gpx-cli.1.jv5rd47ey9nutvqzfed7jvk77");
  long_names.mutable_peer_last_owner()->set_task(
      "gpx-srv.1.51pobf5rrfw66bof7wosx40np");

  v1::Finding reassigned = Vanished();
  reassigned.set_kind(v1::REASSIGNED_PEER);
  reassigned.mutable_peer_current_owner()->set_task("other.1");

  v1::Finding reassigned_to_nobody_known = reassigned;
  reassigned_to_nobody_known.clear_peer_current_owner();

  v1::Finding reassigned_without_history = reassigned;
  reassigned_without_history.clear_peer_last_owner();

  v1::Finding close_wait = Vanished();
  close_wait.set_kind(v1::CLOSE_WAIT_WRITER);

  v1::Finding process_in_netns = Vanished();
  process_in_netns.mutable_socket()->clear_task();
  process_in_netns.mutable_socket()->clear_container_name();
  process_in_netns.mutable_socket()->clear_service();
  process_in_netns.mutable_peer_last_owner()->clear_task();
  process_in_netns.mutable_peer_last_owner()->clear_service();
  process_in_netns.mutable_peer_last_owner()->set_kind(v1::OWNER_KIND_NETNS);
  process_in_netns.mutable_peer_last_owner()->set_netns("gpx-srv");

  v1::Finding nobody_known = process_in_netns;
  nobody_known.clear_peer_last_owner();

  v1::Finding host_process = nobody_known;
  host_process.mutable_socket()->set_netns_inode(0);
  host_process.mutable_socket()->set_remote_ip("fd00::6");

  v1::Finding unknown_kind = Vanished();
  unknown_kind.set_kind(v1::FINDING_KIND_UNSPECIFIED);

  v1::Finding resolved = Vanished();
  resolved.set_status(v1::RESOLVED);
  *resolved.mutable_resolved_at() = ToProto(Now() - absl::Minutes(2));

  v1::Finding resolved_undated = resolved;
  resolved_undated.clear_resolved_at();

  v1::Finding yesterday = Vanished();
  *yesterday.mutable_peer_last_owner()->mutable_until() =
      ToProto(Now() - absl::Hours(24));

  v1::Finding until_unknown = Vanished();
  until_unknown.mutable_peer_last_owner()->clear_until();

  struct Case {
    std::string name;
    v1::Finding finding;
    StoryContext context;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"critical vanished", Vanished(), utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk"},
      {"idle vanished", idle, utc,
       "gpx-cli.1 on node-1 holds an idle connection to 10.99.0.2:27017, "
       "which belonged to gpx-srv.1 until 12:03:04 UTC; nobody holds it now; "
       "the peer had closed the connection; "
       "its next write will be lost"},
      {"data waiting is writing whatever the severity", warning_with_data, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
       "the connection; 70 KB at risk"},
      {"task ids are dropped", long_names, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk"},
      {"reassigned", reassigned, utc,
       "gpx-cli.1 on node-1 is connected to 10.99.0.2:27017, which belonged "
       "to gpx-srv.1 until 12:03:04 UTC and now belongs to other.1; the peer "
       "had closed the connection; 1.8 KB "
       "at risk"},
      {"reassigned to an unnamed holder", reassigned_to_nobody_known, utc,
       "gpx-cli.1 on node-1 is connected to 10.99.0.2:27017, which belonged "
       "to gpx-srv.1 until 12:03:04 UTC, now held by someone else; the peer "
       "had closed the connection; 1.8 KB "
       "at risk"},
      {"reassigned, former holder unknown", reassigned_without_history, utc,
       "gpx-cli.1 on node-1 is connected to 10.99.0.2:27017, now held by "
       "other.1; the peer had closed the connection; 1.8 KB at risk"},
      {"close-wait writer", close_wait, utc,
       "gpx-cli.1 on node-1 keeps writing to 10.99.0.2:27017 after the peer "
       "closed the connection; 1.8 KB at risk"},
      {"process in a namespace, named namespace held the peer",
       process_in_netns, utc,
       "logc (pid 4242) in netns:4026532625 on node-1 is writing to "
       "10.99.0.2:27017, which belonged to netns gpx-srv until 12:03:04 UTC; "
       "nobody holds it now; the peer had closed the connection; 1.8 KB at "
       "risk"},
      {"no container, no known owner", nobody_known, utc,
       "logc (pid 4242) in netns:4026532625 on node-1 is writing to "
       "10.99.0.2:27017; nobody holds it now; the peer had closed the "
       "connection; 1.8 KB at risk"},
      {"host process, IPv6 peer", host_process, utc,
       "logc (pid 4242) on node-1 is writing to [fd00::6]:27017; nobody "
       "holds it now; the peer had closed the connection; 1.8 KB at risk"},
      {"unknown kind", unknown_kind, utc,
       "gpx-cli.1 on node-1 has a suspect connection to 10.99.0.2:27017, "
       "which belonged to gpx-srv.1 until 12:03:04 UTC; 1.8 KB at risk"},
      {"resolved says when", resolved, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk "
       "(resolved 12:08:00 UTC)"},
      {"resolved at an unknown time", resolved_undated, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk "
       "(resolved)"},
      {"left on another day: the date too", yesterday, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 2026-11-22 12:10:00 UTC; nobody holds it now; the peer "
       "had closed the connection; 1.8 KB "
       "at risk"},
      {"told in the reader's zone", Vanished(),
       StoryContext{Now(), absl::FixedTimeZone(2 * 60 * 60)},
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 14:03:04 +02; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk"},
      {"far west of UTC: the reader's calendar day", Vanished(),
       StoryContext{Now(), absl::FixedTimeZone(-13 * 60 * 60)},
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 23:03:04 -13; nobody holds it now; the peer had closed "
       "the connection; 1.8 KB at risk"},
      {"no time for the former holder", until_unknown, utc,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1; nobody holds it now; the peer had closed the connection; "
       "1.8 KB at risk"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ComposeStory(c.finding, c.context), c.want + Advice(c.finding))
        << c.name;
  }
}

// A client of db's VIP 10.0.1.2:5432 whose connection the node translates
// to 10.99.0.2:27017 (the canned backend, gpx-srv.1, gone at 12:03:04).
v1::Finding Translated() {
  v1::Finding finding = Vanished();
  finding.mutable_socket()->set_state(v1::TCP_STATE_ESTABLISHED);
  finding.mutable_socket()->set_remote_ip("10.0.1.2");
  finding.mutable_socket()->set_remote_port(5432);
  finding.mutable_socket()->set_backend_ip("10.99.0.2");
  finding.mutable_socket()->set_backend_port(27017);
  v1::AddressOwner* vip = finding.mutable_vip_owner();
  vip->set_kind(v1::OWNER_KIND_SWARM_VIP);
  vip->set_service("db");
  vip->set_address("10.0.1.2");
  return finding;
}

TEST(StoryTest, TranslatedUdpAndChangedKinds) {
  const StoryContext utc{Now()};

  v1::Finding idle = Translated();
  idle.set_severity(v1::WARNING);
  idle.set_bytes_at_risk(0);

  v1::Finding unowned = Translated();
  unowned.clear_vip_owner();

  v1::Finding owned_by_a_namespace = Translated();
  owned_by_a_namespace.mutable_vip_owner()->set_kind(v1::OWNER_KIND_NETNS);
  owned_by_a_namespace.mutable_vip_owner()->clear_service();
  owned_by_a_namespace.mutable_vip_owner()->set_netns("router");

  v1::Finding backend_owner_unknown = unowned;
  backend_owner_unknown.clear_peer_last_owner();

  v1::Finding translated_reassigned = Translated();
  translated_reassigned.set_kind(v1::REASSIGNED_PEER);
  translated_reassigned.mutable_peer_current_owner()->set_task("db.2");

  v1::Finding udp = Vanished();
  udp.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
  udp.mutable_socket()->set_state(v1::TCP_STATE_ESTABLISHED);
  udp.mutable_socket()->set_remote_port(514);
  udp.mutable_socket()->set_send_queue(0);
  udp.mutable_socket()->set_recv_queue(2048);
  udp.set_severity(v1::WARNING);
  udp.set_bytes_at_risk(0);

  v1::Finding udp_translated = Translated();
  udp_translated.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
  udp_translated.mutable_socket()->set_send_queue(0);
  udp_translated.set_severity(v1::WARNING);
  udp_translated.set_bytes_at_risk(0);

  v1::Finding was_close_wait = Vanished();
  was_close_wait.set_previous_kind(v1::CLOSE_WAIT_WRITER);

  struct Case {
    std::string name;
    v1::Finding finding;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"through a swarm VIP", Translated(),
       "gpx-cli.1 on node-1 is writing to db's VIP 10.0.1.2:5432, whose "
       "connection still goes to 10.99.0.2:27017 (gpx-srv.1, gone since "
       "12:03:04 UTC); 1.8 KB at risk"},
      {"idle through a swarm VIP", idle,
       "gpx-cli.1 on node-1 holds an idle connection to db's VIP "
       "10.0.1.2:5432, whose connection still goes to 10.99.0.2:27017 "
       "(gpx-srv.1, gone since 12:03:04 UTC); its next write will be lost"},
      {"through an address nobody owns", unowned,
       "gpx-cli.1 on node-1 is writing to 10.0.1.2:5432, translated to "
       "10.99.0.2:27017 (gpx-srv.1, gone since 12:03:04 UTC); 1.8 KB at "
       "risk"},
      {"through an address a namespace owns", owned_by_a_namespace,
       "gpx-cli.1 on node-1 is writing to 10.0.1.2:5432 (netns router), "
       "whose connection still goes to 10.99.0.2:27017 (gpx-srv.1, gone "
       "since 12:03:04 UTC); 1.8 KB at risk"},
      {"backend's owner unknown", backend_owner_unknown,
       "gpx-cli.1 on node-1 is writing to 10.0.1.2:5432, translated to "
       "10.99.0.2:27017 (gone); 1.8 KB at risk"},
      {"backend reassigned", translated_reassigned,
       "gpx-cli.1 on node-1 is connected to db's VIP 10.0.1.2:5432, whose "
       "connection still goes to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC and now belongs to db.2; 1.8 KB at "
       "risk"},
      {"udp", udp,
       "gpx-cli.1 on node-1 sends to 10.99.0.2:514, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; its datagrams go "
       "unanswered (UDP; send queue 0 B, receive queue 2.0 KB)"},
      {"udp through a VIP", udp_translated,
       "gpx-cli.1 on node-1 sends to db's VIP 10.0.1.2:5432, whose "
       "connection still goes to 10.99.0.2:27017 (gpx-srv.1, gone since "
       "12:03:04 UTC); its datagrams go unanswered (UDP; send queue 0 B, "
       "receive queue 0 B)"},
      {"kind changed", was_close_wait,
       "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
       "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had "
       "closed the connection; 1.8 KB at risk; reported as a close-wait "
       "writer before"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ComposeStory(c.finding, utc), c.want + Advice(c.finding))
        << c.name;
  }
}

TEST(RetryAdviceTest, SaysHowLongTheKernelWouldRetryFromTheSocketsOwnTimers) {
  const std::string kSet =
      "Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it "
      "notices by itself: its kernel would otherwise keep retrying for about ";
  v1::SocketRecord socket = Vanished().socket();
  // rto 13.056 s after 6 expiries: 915.84 s left (tcp_retries_test.cc).
  EXPECT_EQ(RetryAdvice(socket), kSet + "15m15s more");
  socket.mutable_tcp_info()->set_rto_us(200000);
  socket.mutable_tcp_info()->set_backoff(0);
  EXPECT_EQ(RetryAdvice(socket), kSet + "15m24s");
  // No tcp_info (an older agent, /proc/net/tcp): the kernel's defaults.
  socket.clear_tcp_info();
  EXPECT_EQ(RetryAdvice(socket), kSet + "15m24s");
  socket.mutable_tcp_info()->set_rto_us(120000000);
  socket.mutable_tcp_info()->set_backoff(15);
  EXPECT_EQ(RetryAdvice(socket), kSet + "2m more");
}

TEST(RetryAdviceTest, EndsTcpGhostStoriesOnly) {
  const StoryContext utc{Now()};
  v1::Finding resolved = Vanished();
  resolved.set_status(v1::RESOLVED);
  *resolved.mutable_resolved_at() = ToProto(Now() - absl::Minutes(1));
  EXPECT_EQ(ComposeStory(resolved, utc),
            "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which "
            "belonged to gpx-srv.1 until 12:03:04 UTC; nobody holds it now; "
            "the peer had closed the connection; 1.8 KB at risk (resolved "
            "12:09:00 UTC). Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on "
            "the client so it notices by itself: its kernel would otherwise "
            "keep retrying for about 15m15s more");
  v1::Finding close_wait = Vanished();
  close_wait.set_kind(v1::CLOSE_WAIT_WRITER);
  EXPECT_EQ(ComposeStory(close_wait, utc).find("TCP_USER_TIMEOUT"),
            std::string::npos);
  v1::Finding udp = Vanished();
  udp.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
  EXPECT_EQ(ComposeStory(udp, utc).find("TCP_USER_TIMEOUT"), std::string::npos);
  v1::Finding reassigned = Vanished();
  reassigned.set_kind(v1::REASSIGNED_PEER);
  EXPECT_NE(ComposeStory(reassigned, utc).find("TCP_USER_TIMEOUT"),
            std::string::npos);
}

TEST(StoryTest, ShowsTheServersStoryButNeverItsControlCharacters) {
  const StoryContext context{Now()};
  struct Case {
    std::string name;
    std::string told;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"server's story wins", "the server's own story",
       "the server's own story"},
      {"escape sequence", "orders.2 on node-3 is writing to 10.0.1.6\x1b[2J",
       "orders.2 on node-3 is writing to 10.0.1.6?[2J"},
      {"on one line", "server's own\nstory", "server's own?story"},
      {"none told: composed", "", ComposeStory(Vanished(), context)},
  };
  for (const Case& c : cases) {
    v1::Finding finding = Vanished();
    finding.set_story(c.told);
    EXPECT_EQ(FindingStory(finding, context), c.want) << c.name;
  }
  v1::Finding hostile = Vanished();
  hostile.mutable_socket()->set_task("evil\nfake line");
  EXPECT_EQ(FindingStory(hostile, context).find('\n'), std::string::npos)
      << "a composed story is made printable too";
}

TEST(StoryTest, NamesClientsProcessesAndOwners) {
  v1::SocketRecord task;
  task.set_task("orders.2");
  task.set_container_name("orders.2.xyz");
  task.set_comm("logc");
  task.set_pid(412);
  v1::SocketRecord container;
  container.set_container_name("adhoc");
  v1::SocketRecord service;
  service.set_service("mongo");
  v1::SocketRecord netns;
  netns.set_netns_inode(4026532625);
  v1::SocketRecord process;
  process.set_pid(4242);
  process.set_comm("logc");
  v1::SocketRecord process_in_netns = process;
  process_in_netns.set_netns_inode(4026532625);
  v1::SocketRecord pid_only;
  pid_only.set_pid(7);
  v1::SocketRecord comm_only;
  comm_only.set_comm("logc");

  v1::AddressOwner vip;
  vip.set_kind(v1::OWNER_KIND_SWARM_VIP);
  vip.set_service("mongo");
  vip.set_task("not.shown");
  v1::AddressOwner anonymous_vip;
  anonymous_vip.set_kind(v1::OWNER_KIND_SWARM_VIP);
  v1::AddressOwner host;
  host.set_kind(v1::OWNER_KIND_HOST);
  host.set_node("node-3");
  v1::AddressOwner named_netns;
  named_netns.set_kind(v1::OWNER_KIND_NETNS);
  named_netns.set_netns("gpx-srv");
  named_netns.set_netns_inode(7);
  v1::AddressOwner inode_netns;
  inode_netns.set_kind(v1::OWNER_KIND_NETNS);
  inode_netns.set_netns_inode(99);
  v1::AddressOwner owner_task;
  owner_task.set_task("mongo.1");
  owner_task.set_container_name("mongo.1.abc");
  v1::AddressOwner owner_container;
  owner_container.set_container_name("adhoc");

  struct Case {
    std::string name;
    std::string got;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"client task first", ClientName(task), "orders.2"},
      {"client container", ClientName(container), "adhoc"},
      {"client service", ClientName(service), "mongo"},
      {"client netns", ClientName(netns), "netns:4026532625"},
      {"client host", ClientName(v1::SocketRecord()), "host"},
      {"story client in a container: its name", StoryClient(task), "orders.2"},
      {"story client process in a namespace", StoryClient(process_in_netns),
       "logc (pid 4242) in netns:4026532625"},
      {"story client process on the host", StoryClient(process),
       "logc (pid 4242)"},
      {"story client pid only", StoryClient(pid_only), "pid 7"},
      {"story client comm only", StoryClient(comm_only), "logc"},
      {"story client namespace only", StoryClient(netns), "netns:4026532625"},
      {"process", ProcessName(process), "logc/4242"},
      {"process pid only", ProcessName(pid_only), "pid 7"},
      {"process comm only", ProcessName(comm_only), "logc"},
      {"process none", ProcessName(v1::SocketRecord()), "-"},
      {"owner task", OwnerName(owner_task), "mongo.1"},
      {"owner container", OwnerName(owner_container), "adhoc"},
      {"owner vip", OwnerName(vip), "VIP of mongo"},
      {"owner vip of no known service", OwnerName(anonymous_vip),
       "a service VIP"},
      {"owner host", OwnerName(host), "host node-3"},
      {"owner netns", OwnerName(named_netns), "netns gpx-srv"},
      {"owner netns inode", OwnerName(inode_netns), "netns inode:99"},
      {"owner nobody", OwnerName(v1::AddressOwner()), ""},
  };
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want) << c.name;
}

TEST(StoryTest, Endpoint) {
  struct Case {
    std::string name;
    std::string ip;
    uint32_t port;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"v4", "10.0.1.6", 27017, "10.0.1.6:27017"},
      {"v6 bracketed", "fd00::6", 27017, "[fd00::6]:27017"},
      {"no port", "10.0.1.6", 0, "10.0.1.6"},
      {"no address", "", 80, "-"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Endpoint(c.ip, c.port), c.want) << c.name;
  }
}

TEST(StoryTest, StoryTimeSaysTheDateOnlyOnAnotherDay) {
  const StoryContext utc{Now()};
  struct Case {
    std::string name;
    absl::Time time;
    StoryContext context;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"midnight is the same day", Now() - absl::Hours(12) - absl::Minutes(10),
       utc, "00:00:00 UTC"},
      {"a second before is the day before",
       Now() - absl::Hours(12) - absl::Minutes(10) - absl::Seconds(1), utc,
       "2026-11-22 23:59:59 UTC"},
      {"later the same day (clock skew)", Now() + absl::Minutes(1), utc,
       "12:11:00 UTC"},
      {"the day is the reader's", Now() - absl::Hours(12),
       StoryContext{Now(), absl::FixedTimeZone(-60 * 60)},
       "2026-11-22 23:10:00 -01"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StoryTime(c.time, c.context), c.want) << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer
