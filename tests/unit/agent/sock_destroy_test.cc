#include "agent/sock_destroy.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/agent/netlink_builder.h"

namespace ghostpeer::agent {
namespace {

using test::NetlinkBuilder;

constexpr uint64_t kNetns = 4026532625;
constexpr uint64_t kInode = 908125;
constexpr uint64_t kCookie = 0x100001234;

v1::RemediationOrder GhostOrder() {
  v1::RemediationOrder order;
  order.set_order_id("order-1");
  order.set_finding_id("finding-1");
  order.set_netns_inode(kNetns);
  v1::SocketKey* key = order.mutable_socket();
  key->set_netns_inode(kNetns);
  key->set_local_ip("10.0.1.11");
  key->set_local_port(43322);
  key->set_remote_ip("10.0.1.8");
  key->set_remote_port(9000);
  key->set_inode(kInode);
  order.set_cookie(kCookie);
  order.set_peer_ip("10.0.1.8");
  return order;
}

v1::SocketRecord LiveRecord() {
  v1::SocketRecord record;
  record.set_local_ip("10.0.1.11");
  record.set_local_port(43322);
  record.set_remote_ip("10.0.1.8");
  record.set_remote_port(9000);
  record.set_inode(kInode);
  record.set_cookie(kCookie);
  record.set_state(v1::TCP_STATE_ESTABLISHED);
  return record;
}

// The kernel as a script: what each step answers, and what was asked.
class FakeHost final : public RemediationHost {
 public:
  SocketLookup lookup;
  absl::Status lookup_status;
  AddressScan scan;
  absl::Status scan_status;
  int destroy_error = 0;
  absl::Status destroy_status;

  int lookups = 0;
  int scans = 0;
  std::vector<RemediationTarget> destroyed;
  std::string scanned_address;

  FakeHost() { lookup.record = LiveRecord(); }

  absl::StatusOr<SocketLookup> LookUp(const RemediationTarget&) override {
    ++lookups;
    if (!lookup_status.ok()) return lookup_status;
    return lookup;
  }
  absl::StatusOr<AddressScan> FindHolders(const std::string& address) override {
    ++scans;
    scanned_address = address;
    if (!scan_status.ok()) return scan_status;
    return scan;
  }
  absl::StatusOr<int> Destroy(const RemediationTarget& target) override {
    if (!destroy_status.ok()) return destroy_status;
    destroyed.push_back(target);
    return destroy_error;
  }
};

struct Case {
  std::string name;
  std::function<void(v1::RemediationOrder&, FakeHost&)> setup;
  v1::RemediationOutcomeKind want;
  bool want_destroy_call;
  int want_errno = 0;
  std::string detail_contains;
};

TEST(RemediationExecutorTest, RecheckTable) {
  const std::vector<Case> cases = {
      {"ghost is destroyed", [](auto&, auto&) {}, v1::REMEDIATION_DESTROYED,
       true, 0, "destroyed 10.0.1.11:43322 -> 10.0.1.8:9000"},
      {"socket gone",
       [](auto&, FakeHost& h) {
         h.lookup = {true, ENOENT, {}};
       },
       v1::REMEDIATION_ALREADY_GONE, false, 0, "no socket"},
      {"namespace gone",
       [](auto&, FakeHost& h) {
         h.lookup = {false, 0, {}};
       },
       v1::REMEDIATION_ALREADY_GONE, false, 0, "no longer exists"},
      {"cookie differs (kernel ESTALE)",
       [](auto&, FakeHost& h) {
         h.lookup = {true, ESTALE, {}};
       },
       v1::REMEDIATION_ALREADY_GONE, false, 0, "cookie differs"},
      {"cookie differs (kernel ignored it)",
       [](auto&, FakeHost& h) { h.lookup.record->set_cookie(kCookie + 1); },
       v1::REMEDIATION_ALREADY_GONE, false, 0, "has cookie"},
      {"tuple differs: remote port",
       [](auto&, FakeHost& h) { h.lookup.record->set_remote_port(9001); },
       v1::REMEDIATION_REFUSED, false, 0, "answered for"},
      {"tuple differs: local address",
       [](auto&, FakeHost& h) { h.lookup.record->set_local_ip("10.0.1.12"); },
       v1::REMEDIATION_REFUSED, false, 0, "answered for"},
      {"inode differs",
       [](auto&, FakeHost& h) { h.lookup.record->set_inode(kInode + 1); },
       v1::REMEDIATION_REFUSED, false, 0, "inode"},
      {"listening socket",
       [](auto&, FakeHost& h) {
         h.lookup.record->set_state(v1::TCP_STATE_LISTEN);
       },
       v1::REMEDIATION_REFUSED, false, 0, "listening"},
      {"lookup errno",
       [](auto&, FakeHost& h) {
         h.lookup = {true, EACCES, {}};
       },
       v1::REMEDIATION_FAILED, false, EACCES, "looking up"},
      {"lookup could not be made",
       [](auto&, FakeHost& h) {
         h.lookup_status = absl::PermissionDeniedError("setns: EPERM");
       },
       v1::REMEDIATION_FAILED, false, 0, "setns"},
      {"peer held in another namespace",
       [](auto&, FakeHost& h) {
         h.scan.holders = {"inode 4026532700 (gp-server)"};
       },
       v1::REMEDIATION_REFUSED, false, 0, "held on this node"},
      {"a namespace unreadable: cannot tell",
       [](auto&, FakeHost& h) {
         h.scan.unreadable = {"inode 4026532701: permission denied"};
       },
       v1::REMEDIATION_REFUSED, false, 0, "cannot tell"},
      {"namespaces cannot be listed",
       [](auto&, FakeHost& h) {
         h.scan_status = absl::NotFoundError("/proc unreadable");
       },
       v1::REMEDIATION_REFUSED, false, 0, "cannot list"},
      {"loopback peer",
       [](v1::RemediationOrder& o, auto&) { o.set_peer_ip("127.0.0.1"); },
       v1::REMEDIATION_REFUSED, false, 0, "loopback"},
      {"loopback remote (IPv6)",
       [](v1::RemediationOrder& o, FakeHost&) {
         o.mutable_socket()->set_local_ip("::1");
         o.mutable_socket()->set_remote_ip("::1");
         o.set_peer_ip("fd00::8");
       },
       v1::REMEDIATION_REFUSED, false, 0, "loopback"},
      {"loopback peer as IPv4-mapped IPv6",
       [](v1::RemediationOrder& o, auto&) {
         o.set_peer_ip("::ffff:127.0.0.1");
       },
       v1::REMEDIATION_REFUSED, false, 0, "loopback"},
      {"unspecified peer",
       [](v1::RemediationOrder& o, auto&) { o.set_peer_ip("0.0.0.0"); },
       v1::REMEDIATION_REFUSED, false, 0, "unspecified"},
      {"dry run passes every check",
       [](v1::RemediationOrder& o, auto&) { o.set_dry_run(true); },
       v1::REMEDIATION_WOULD_DESTROY, false, 0, "dry run"},
      {"dry run still re-checks",
       [](v1::RemediationOrder& o, FakeHost& h) {
         o.set_dry_run(true);
         h.scan.holders = {"inode 1"};
       },
       v1::REMEDIATION_REFUSED, false, 0, "held"},
      {"kernel EPERM", [](auto&, FakeHost& h) { h.destroy_error = EPERM; },
       v1::REMEDIATION_FAILED, true, EPERM, "CAP_NET_ADMIN"},
      {"kernel ENOENT on destroy",
       [](auto&, FakeHost& h) { h.destroy_error = ENOENT; },
       v1::REMEDIATION_ALREADY_GONE, true, 0, "went away"},
      {"kernel EOPNOTSUPP",
       [](auto&, FakeHost& h) { h.destroy_error = EOPNOTSUPP; },
       v1::REMEDIATION_FAILED, true, EOPNOTSUPP, "CONFIG_INET_DIAG_DESTROY"},
      {"destroy request could not be made",
       [](auto&, FakeHost& h) {
         h.destroy_status = absl::DataLossError("broken reply");
       },
       v1::REMEDIATION_FAILED, false, 0, "broken reply"},
      {"malformed order: no cookie",
       [](v1::RemediationOrder& o, auto&) { o.set_cookie(0); },
       v1::REMEDIATION_REFUSED, false, 0, "cookie"},
      {"malformed order: port out of range",
       [](v1::RemediationOrder& o, auto&) {
         o.mutable_socket()->set_remote_port(70000);
       },
       v1::REMEDIATION_REFUSED, false, 0, "remote_port"},
      {"malformed order: address with NUL",
       [](v1::RemediationOrder& o, auto&) {
         o.mutable_socket()->set_remote_ip(std::string("10.0.1.8\0x", 10));
       },
       v1::REMEDIATION_REFUSED, false, 0, "remote_ip"},
      {"malformed order: mixed families",
       [](v1::RemediationOrder& o, auto&) {
         o.mutable_socket()->set_remote_ip("fd00::8");
       },
       v1::REMEDIATION_REFUSED, false, 0, "families"},
      {"malformed order: namespaces disagree",
       [](v1::RemediationOrder& o, auto&) {
         o.mutable_socket()->set_netns_inode(kNetns + 1);
       },
       v1::REMEDIATION_REFUSED, false, 0, "netns_inode"},
      {"malformed order: empty id",
       [](v1::RemediationOrder& o, auto&) { o.set_order_id(""); },
       v1::REMEDIATION_REFUSED, false, 0, "order_id"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeHost host;
    v1::RemediationOrder order = GhostOrder();
    c.setup(order, host);
    RemediationExecutor executor({/*enabled=*/true, "", Clock::Real()}, &host);
    const v1::RemediationOutcome outcome = executor.Execute(order);
    EXPECT_EQ(outcome.outcome(), c.want)
        << v1::RemediationOutcomeKind_Name(outcome.outcome()) << ": "
        << outcome.detail();
    EXPECT_EQ(outcome.order_id(), order.order_id());
    EXPECT_EQ(outcome.error_number(), c.want_errno);
    EXPECT_NE(outcome.detail().find(c.detail_contains), std::string::npos)
        << outcome.detail();
    EXPECT_EQ(host.destroyed.size(), c.want_destroy_call ? 1u : 0u);
    EXPECT_TRUE(outcome.has_at());
  }
}

TEST(RemediationExecutorTest, DestroysExactlyTheNamedSocket) {
  FakeHost host;
  RemediationExecutor executor({true, "", Clock::Real()}, &host);
  v1::RemediationOrder order = GhostOrder();
  order.mutable_socket()->set_remote_ip("::ffff:10.0.1.8");
  ASSERT_EQ(executor.Execute(order).outcome(), v1::REMEDIATION_DESTROYED);
  ASSERT_EQ(host.destroyed.size(), 1u);
  const RemediationTarget& target = host.destroyed[0];
  EXPECT_EQ(target.cookie, kCookie);
  EXPECT_EQ(target.inode, kInode);
  EXPECT_EQ(target.netns_inode, kNetns);
  EXPECT_EQ(target.remote_ip, "10.0.1.8");  // mapped folded to IPv4
  EXPECT_EQ(target.family, AF_INET);
  EXPECT_EQ(host.scanned_address, "10.0.1.8");
}

TEST(RemediationExecutorTest, DisabledRefusesWithoutTouchingTheKernel) {
  FakeHost host;
  RemediationExecutor executor(
      {/*enabled=*/false, "agent started without --remediation", Clock::Real()},
      &host);
  EXPECT_FALSE(executor.enabled());
  EXPECT_EQ(executor.refusal(), "agent started without --remediation");
  const v1::RemediationOutcome outcome = executor.Execute(GhostOrder());
  EXPECT_EQ(outcome.outcome(), v1::REMEDIATION_REFUSED);
  EXPECT_EQ(outcome.detail(), "agent started without --remediation");
  EXPECT_EQ(host.lookups, 0);
  EXPECT_EQ(host.scans, 0);
  EXPECT_TRUE(host.destroyed.empty());
}

TEST(RemediationExecutorTest, NullHostIsDisabled) {
  RemediationExecutor executor({/*enabled=*/true, "", Clock::Real()}, nullptr);
  EXPECT_FALSE(executor.enabled());
  EXPECT_EQ(executor.Execute(GhostOrder()).outcome(), v1::REMEDIATION_REFUSED);
}

TEST(RemediationExecutorTest, HostileOrderIdIsCutAndRepaired) {
  FakeHost host;
  RemediationExecutor executor({true, "", Clock::Real()}, &host);
  v1::RemediationOrder order = GhostOrder();
  order.set_order_id(std::string(300, 'x') + "\xff");
  const v1::RemediationOutcome outcome = executor.Execute(order);
  EXPECT_EQ(outcome.outcome(), v1::REMEDIATION_REFUSED);
  EXPECT_LE(outcome.order_id().size(), kMaxOrderIdLength);
  EXPECT_TRUE(host.destroyed.empty());
}

inet_diag_req_v2 RequestOf(const std::vector<uint8_t>& bytes,
                           nlmsghdr* header) {
  EXPECT_EQ(bytes.size(), NLMSG_LENGTH(sizeof(inet_diag_req_v2)));
  std::memcpy(header, bytes.data(), sizeof(*header));
  inet_diag_req_v2 request;
  std::memcpy(&request, bytes.data() + NLMSG_HDRLEN, sizeof(request));
  return request;
}

TEST(SockDestroyRequestTest, NamesTheExactSocketWithItsCookie) {
  absl::StatusOr<RemediationTarget> target =
      ParseRemediationOrder(GhostOrder());
  ASSERT_TRUE(target.ok()) << target.status();
  nlmsghdr header;
  const inet_diag_req_v2 destroy =
      RequestOf(BuildSockDestroyRequest(*target, 7), &header);
  EXPECT_EQ(header.nlmsg_type, SOCK_DESTROY);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(header.nlmsg_seq, 7u);
  EXPECT_EQ(destroy.sdiag_family, AF_INET);
  EXPECT_EQ(destroy.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(ntohs(destroy.id.idiag_sport), 43322);
  EXPECT_EQ(ntohs(destroy.id.idiag_dport), 9000);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, destroy.id.idiag_src, text, sizeof(text));
  EXPECT_STREQ(text, "10.0.1.11");
  inet_ntop(AF_INET, destroy.id.idiag_dst, text, sizeof(text));
  EXPECT_STREQ(text, "10.0.1.8");
  EXPECT_EQ(destroy.id.idiag_cookie[0], 0x1234u);
  EXPECT_EQ(destroy.id.idiag_cookie[1], 0x1u);

  const inet_diag_req_v2 query =
      RequestOf(BuildSocketQueryRequest(*target, 8), &header);
  EXPECT_EQ(header.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  // A get, not a dump: the kernel looks the one socket up by its tuple.
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST);
  EXPECT_EQ(std::memcmp(&query.id, &destroy.id, sizeof(query.id)), 0);
}

TEST(SockDestroyRequestTest, Ipv6Tuple) {
  v1::RemediationOrder order = GhostOrder();
  order.mutable_socket()->set_local_ip("fd00::11");
  order.mutable_socket()->set_remote_ip("fd00::8");
  order.set_peer_ip("fd00::8");
  absl::StatusOr<RemediationTarget> target = ParseRemediationOrder(order);
  ASSERT_TRUE(target.ok()) << target.status();
  nlmsghdr header;
  const inet_diag_req_v2 request =
      RequestOf(BuildSockDestroyRequest(*target, 1), &header);
  EXPECT_EQ(request.sdiag_family, AF_INET6);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, request.id.idiag_dst, text, sizeof(text));
  EXPECT_STREQ(text, "fd00::8");
}

inet_diag_msg ReplyMsg() {
  inet_diag_msg msg = {};
  msg.idiag_family = AF_INET;
  msg.idiag_state = 1;
  msg.id.idiag_sport = htons(43322);
  msg.id.idiag_dport = htons(9000);
  inet_pton(AF_INET, "10.0.1.11", msg.id.idiag_src);
  inet_pton(AF_INET, "10.0.1.8", msg.id.idiag_dst);
  msg.idiag_inode = kInode;
  msg.id.idiag_cookie[0] = 0x1234;
  msg.id.idiag_cookie[1] = 0x1;
  return msg;
}

TEST(SockDiagSingleReplyTest, Record) {
  const std::vector<uint8_t> bytes =
      NetlinkBuilder().Message(SOCK_DIAG_BY_FAMILY, ReplyMsg(), 0, 5).Build();
  SockDiagSingleReply reply;
  ASSERT_TRUE(ParseSockDiagSingleReplyInto(bytes, {5, 0}, &reply).ok());
  ASSERT_TRUE(reply.complete);
  ASSERT_TRUE(reply.record.has_value());
  EXPECT_EQ(reply.record->cookie(), kCookie);
  EXPECT_EQ(reply.record->inode(), kInode);
  EXPECT_EQ(reply.error, 0);
}

TEST(SockDiagSingleReplyTest, Table) {
  struct ReplyCase {
    std::string name;
    std::vector<uint8_t> bytes;
    bool ok;
    bool complete;
    int error;
  };
  const std::vector<ReplyCase> cases = {
      {"ack", NetlinkBuilder().Error(0, 5).Build(), true, true, 0},
      {"ENOENT", NetlinkBuilder().Error(-ENOENT, 5).Build(), true, true,
       ENOENT},
      {"ESTALE", NetlinkBuilder().Error(-ESTALE, 5).Build(), true, true,
       ESTALE},
      {"EPERM", NetlinkBuilder().Error(-EPERM, 5).Build(), true, true, EPERM},
      {"EOPNOTSUPP", NetlinkBuilder().Error(-EOPNOTSUPP, 5).Build(), true, true,
       EOPNOTSUPP},
      {"foreign seq only", NetlinkBuilder().Error(-ENOENT, 6).Build(), true,
       false, 0},
      {"foreign then ours",
       NetlinkBuilder().Error(-ENOENT, 6).Error(-EPERM, 5).Build(), true, true,
       EPERM},
      {"positive code is no errno", NetlinkBuilder().Error(17, 5).Build(),
       false, false, 0},
      {"huge negative code is no errno",
       NetlinkBuilder().Error(INT32_MIN, 5).Build(), false, false, 0},
      {"error without code",
       NetlinkBuilder().RawMessage(NLMSG_ERROR, "", 0, 0, 5).Build(), false,
       false, 0},
      {"length past the end",
       NetlinkBuilder().Error(0, 5).OverrideLength(4096).Build(), false, false,
       0},
      {"length shorter than a header",
       NetlinkBuilder().Error(0, 5).OverrideLength(3).Build(), false, false, 0},
      {"record too short",
       NetlinkBuilder()
           .RawMessage(SOCK_DIAG_BY_FAMILY, "abcd", 4, 0, 5)
           .Build(),
       false, false, 0},
      {"unexpected type",
       NetlinkBuilder()
           .RawMessage(NLMSG_MIN_TYPE + 99, "abcd", 4, 0, 5)
           .Build(),
       false, false, 0},
      {"empty buffer", {}, true, false, 0},
  };
  for (const ReplyCase& c : cases) {
    SCOPED_TRACE(c.name);
    SockDiagSingleReply reply;
    const absl::Status status =
        ParseSockDiagSingleReplyInto(c.bytes, {5, 0}, &reply);
    EXPECT_EQ(status.ok(), c.ok) << status;
    if (!c.ok) continue;
    EXPECT_EQ(reply.complete, c.complete);
    EXPECT_EQ(reply.error, c.error);
    EXPECT_FALSE(reply.record.has_value());
  }
}

TEST(CanonicalInetAddressTest, Forms) {
  EXPECT_EQ(CanonicalInetAddress("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalInetAddress("::ffff:10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalInetAddress("FD00:0::1"), "fd00::1");
  EXPECT_EQ(CanonicalInetAddress("10.0.0.256"), "");
  EXPECT_EQ(CanonicalInetAddress(""), "");
  EXPECT_EQ(CanonicalInetAddress(std::string(1000, '1')), "");
}

}  // namespace
}  // namespace ghostpeer::agent
