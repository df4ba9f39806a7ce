#include "aggregator/detector.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "aggregator/address_history.h"
#include "aggregator/socket_state.h"
#include "common/human_bytes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using testing::Attach;
using testing::Container;
using testing::Detach;
using testing::Netns;
using testing::Socket;
using testing::SocketSpec;
using testing::T;
using testing::Vip;

// What a step expects: kind/severity pairs, plus bytes_at_risk of the first
// expectation when >= 0.
struct Expected {
  v1::FindingKind kind;
  v1::Severity severity;
  int64_t bytes_at_risk = -1;
};

std::string Describe(v1::FindingKind kind, v1::Severity severity) {
  return absl::StrCat(v1::FindingKind_Name(kind), "/",
                      v1::Severity_Name(severity));
}

struct Step {
  // Address events (reporter node, event) applied before the snapshot.
  std::vector<std::pair<std::string, v1::AddressEvent>> events;
  // The client node's sockets at this snapshot.
  std::vector<SocketSpec> sockets;
  double taken_at = 0;  // seconds, see T()
  std::vector<Expected> expected;
  // Addresses the client's own namespace holds.
  std::vector<std::string> own_addresses = {};
};

// The rules' table pins what each snapshot's evidence means; how many
// snapshots must agree is pinned on its own (DetectorConfirmationTest).
DetectorOptions AtOnce() {
  DetectorOptions options;
  options.confirmations = 1;
  return options;
}

struct DetectorCase {
  std::string name;
  std::vector<Step> steps;
};

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");
// A swarm service "db" behind its VIP 10.0.1.2, served by db.1 at 10.0.1.6.
const v1::AddressOwner kDbVip = Vip("10.0.1.2", "db");
const v1::AddressOwner kDb1 = Container("10.0.1.6", "db.1");
const v1::AddressOwner kDb2 = Container("10.0.1.6", "db.2", "node-3");
const v1::AddressOwner kOther = Container("10.0.1.6", "gpx-other.1", "node-3");

// Scoped owners (model.proto AddressScope): a bridge address each node hands
// out again, and an overlay address that is one in the cluster.
v1::AddressOwner Local(const std::string& address, const std::string& name,
                       const std::string& node) {
  v1::AddressOwner owner = Container(address, name, node);
  owner.set_network("docker_gwbridge");
  owner.set_scope(v1::ADDRESS_SCOPE_NODE);
  return owner;
}
v1::AddressOwner Overlay(const std::string& address, const std::string& name,
                         const std::string& node) {
  v1::AddressOwner owner = Container(address, name, node);
  owner.set_network("gpx_net");
  owner.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
  return owner;
}
// The client is on node-1; these three hold 172.18.0.3 on their own nodes.
const v1::AddressOwner kBridgeHere = Local("172.18.0.3", "gpx-a.1", "node-1");
const v1::AddressOwner kBridgeThere = Local("172.18.0.3", "gpx-b.1", "node-2");
const v1::AddressOwner kBridgeNext = Local("172.18.0.3", "gpx-c.1", "node-1");

SocketSpec Idle() { return SocketSpec{}; }
SocketSpec Stuck(uint32_t queue = 720) {
  SocketSpec spec;
  spec.send_queue = queue;
  spec.unacked = 1;
  spec.backoff = 4;
  spec.last_ack_recv_ms = 6080;
  return spec;
}
SocketSpec WithState(SocketSpec spec, v1::TcpState state) {
  spec.state = state;
  return spec;
}
SocketSpec Written(uint64_t acked, uint32_t queue,
                   v1::TcpState state = v1::TCP_STATE_ESTABLISHED) {
  SocketSpec spec;
  spec.bytes_acked = acked;
  spec.send_queue = queue;
  spec.state = state;
  return spec;
}
SocketSpec To(std::string remote, SocketSpec spec = SocketSpec{}) {
  spec.remote_ip = std::move(remote);
  return spec;
}
// A client of `vip` whose connection the node translates to `backend`.
SocketSpec Via(std::string vip, std::string backend, SocketSpec spec) {
  spec.remote_ip = std::move(vip);
  spec.remote_port = 5432;
  spec.backend_ip = std::move(backend);
  spec.backend_port = 5432;
  return spec;
}
// A connected UDP socket (no tcp_info, as the agent reports them).
SocketSpec Udp(SocketSpec spec = SocketSpec{}) {
  spec.protocol = v1::PROTOCOL_UDP;
  spec.tcp_info = false;
  spec.remote_port = 514;
  return spec;
}
SocketSpec HeardAgo(uint32_t ms, SocketSpec spec = SocketSpec{}) {
  spec.last_ack_recv_ms = ms;
  spec.last_data_recv_ms = ms;
  return spec;
}

std::pair<std::string, v1::AddressEvent> On(const std::string& node,
                                            v1::AddressEvent event) {
  return {node, std::move(event)};
}

// db's VIP 10.0.1.2 stays; its backend db.1 (10.0.1.6) left at T(5).
std::vector<std::pair<std::string, v1::AddressEvent>> DbBackendGone() {
  return {On("manager-1", Attach(1, T(0), kDbVip)),
          On("node-2", Attach(1, T(0), kDb1)),
          On("node-2", Detach(2, T(5), kDb1))};
}

const std::vector<DetectorCase>& Cases() {
  static const auto* cases =
      new std::vector<DetectorCase>{
          {"healthy connection to a live owner",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Stuck()}, 10, {}}}},
          {"vanished peer, idle client: warning",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {Idle()},
             10,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"vanished peer, data waiting: critical with the queue at risk",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {Stuck(720)},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL, 720}}}}},
          {"vanished peer, client keeps writing: critical",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {Written(1000, 0)},
             10,
             {}},
            {{On("node-2", Detach(2, T(15), kServer))},
             {Written(1000, 0)},
             20,
             {{v1::VANISHED_PEER, v1::WARNING}}},
            {{}, {Written(1400, 0)}, 25, {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"vanished peer without tcp_info (proc source): queue is the "
           "evidence",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {[] {
               SocketSpec spec = Stuck(300);
               spec.tcp_info = false;
               return spec;
             }()},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL, 300}}}}},
          {"never-held address (outside service): nothing",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {To("203.0.113.5", Stuck())},
             10,
             {}}}},
          {"loopback peer: nothing, even if history mentions it",
           {{{On("node-2", Attach(1, T(0), Container("127.0.0.1", "odd"))),
              On("node-2", Detach(2, T(1), Container("127.0.0.1", "odd")))},
             {To("127.0.0.1", Stuck())},
             10,
             {}}}},
          {"orphan socket (its application closed it): nothing",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {[] {
               SocketSpec spec = WithState(Stuck(), v1::TCP_STATE_LAST_ACK);
               spec.inode = 0;
               return spec;
             }()},
             10,
             {}}}},
          {"swarm VIP, held or gone: never a ghost",
           {{{On("manager-1", Attach(1, T(0), Vip("10.0.1.2", "web"))),
              On("manager-1", Detach(2, T(5), Vip("10.0.1.2", "web")))},
             {To("10.0.1.2", Stuck())},
             10,
             {}}}},
          {"peer address held by the client's own namespace: nothing",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {Stuck()},
             10,
             {},
             {"10.0.1.6"}}}},
          {"states that cannot lose data: nothing",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {WithState(Stuck(), v1::TCP_STATE_LISTEN),
              WithState(Stuck(), v1::TCP_STATE_TIME_WAIT),
              WithState(Stuck(), v1::TCP_STATE_SYN_SENT),
              WithState(Stuck(), v1::TCP_STATE_SYN_RECV),
              WithState(Stuck(), v1::TCP_STATE_FIN_WAIT2),
              WithState(Stuck(), v1::TCP_STATE_CLOSE)},
             10,
             {}}}},
          {"FIN_WAIT1 and LAST_ACK to a vanished peer still lose data",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {WithState(Stuck(), v1::TCP_STATE_FIN_WAIT1)},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"reassigned: first holder gone, another owner holds the address",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Stuck()}, 10, {}},
            {{On("node-2", Detach(2, T(12), kServer)),
              On("node-3", Attach(1, T(13), kOther))},
             {Stuck()},
             15,
             {{v1::REASSIGNED_PEER, v1::CRITICAL, 720}}}}},
          {"reassigned, idle client: warning",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Idle()}, 10, {}},
            {{On("node-2", Detach(2, T(12), kServer)),
              On("node-3", Attach(1, T(13), kOther))},
             {Idle()},
             15,
             {{v1::REASSIGNED_PEER, v1::WARNING}}}}},
          {"reuse after a vanish: vanished first, then reassigned",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {Stuck()},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}},
            {{On("node-3", Attach(1, T(12), kOther))},
             {Stuck()},
             15,
             {{v1::REASSIGNED_PEER, v1::CRITICAL}}}}},
          {"flapping owner (leaves and comes back): vanished, then nothing",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Stuck()}, 10, {}},
            {{On("node-2", Detach(2, T(11), kServer))},
             {Stuck()},
             15,
             {{v1::VANISHED_PEER, v1::CRITICAL}}},
            {{On("node-2", Attach(3, T(16), kServer))}, {Stuck()}, 20, {}},
            {{On("node-2", Detach(4, T(21), kServer)),
              On("node-2", Attach(5, T(22), kServer))},
             {Stuck()},
             25,
             {}}}},
          {"same container seen by the tasks API and its namespace: not "
           "reassigned",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Stuck()}, 10, {}},
            {{On("manager-1",
                 Attach(
                     1, T(11),
                     [] {
                       v1::AddressOwner task = kServer;
                       task.set_kind(v1::OWNER_KIND_SWARM_TASK);
                       task.set_netns_inode(0);
                       task.clear_netns();
                       return task;
                     }(),
                     v1::SWARM_TASKS)),
              On("node-2", Detach(2, T(12), kServer))},
             {Stuck()},
             15,
             {}}}},
          {"first seen after the reassignment: tcp_info dates the peer",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(100), kServer)),
              On("node-3", Attach(1, T(200), kOther))},
             // Last heard 250 s before T(300): T(50), while gpx-srv.1 held it.
             {HeardAgo(250000, Stuck())},
             300,
             {{v1::REASSIGNED_PEER, v1::CRITICAL}}}}},
          {"first seen after the reassignment, heard from the new owner: "
           "nothing",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(100), kServer)),
              On("node-3", Attach(1, T(200), kOther))},
             {HeardAgo(50000, Stuck())},
             300,
             {}}}},
          {"heard too close to the old owner's departure: no evidence",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(100), kServer)),
              On("node-3", Attach(1, T(110), kOther))},
             // T(95): within the margin of both the departure and the arrival.
             {HeardAgo(205000, Stuck())},
             300,
             {}}}},
          {"address held on two nodes: held while either holds it",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-3", Attach(1, T(0),
                                  Netns("10.0.1.6", "lb_73fsqapim", "node-3",
                                        4026532999)))},
             {Stuck()},
             10,
             {}},
            {{On("node-2", Detach(2, T(12), kServer))}, {Stuck()}, 15, {}},
            {{On("node-3", Detach(2, T(16),
                                  Netns("10.0.1.6", "lb_73fsqapim", "node-3",
                                        4026532999)))},
             {Stuck()},
             20,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"clock skew: the server's node runs ahead of the client's",
           // The departure is stamped 20 s after the client's snapshot time;
           // the peer was last heard 1 s before that snapshot.
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(30), kServer))},
             {HeardAgo(1000, Stuck())},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"clock skew: the client's node runs ahead within the margin",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(10), kServer))},
             // Heard at T(25) by the client's clock: 15 s after the departure,
             // inside the 30 s margin, so still a ghost.
             {HeardAgo(5000, Stuck())},
             30,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"peer answered long after its owner left: someone outside answers",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(10), kServer))},
             {HeardAgo(1000, Idle())},
             300,
             {}}}},
          {"close-wait writer to a live owner: warning with post-FIN bytes",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {Written(1000, 0)},
             10,
             {}},
            {{}, {Written(1000, 0, v1::TCP_STATE_CLOSE_WAIT)}, 15, {}},
            // The peer's kernel acked 600 more bytes after its app closed; 200
            // are queued: 800 bytes no application reads.
            {{},
             {Written(1600, 200, v1::TCP_STATE_CLOSE_WAIT)},
             20,
             {{v1::CLOSE_WAIT_WRITER, v1::WARNING, 800}}}}},
          {"close-wait without writes: nothing",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {Written(1000, 1, v1::TCP_STATE_CLOSE_WAIT)},
             10,
             {}},
            {{}, {Written(1000, 1, v1::TCP_STATE_CLOSE_WAIT)}, 15, {}}}},
          {"close-wait writer whose peer then vanishes: one finding, the "
           "ghost",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {Written(1000, 0, v1::TCP_STATE_CLOSE_WAIT)},
             10,
             {}},
            {{},
             {Written(1000, 300, v1::TCP_STATE_CLOSE_WAIT)},
             15,
             {{v1::CLOSE_WAIT_WRITER, v1::WARNING, 300}}},
            {{On("node-2", Detach(2, T(16), kServer))},
             {Written(1000, 700, v1::TCP_STATE_CLOSE_WAIT)},
             20,
             {{v1::VANISHED_PEER, v1::CRITICAL, 700}}}}},
          {"close-wait writer whose peer's address went to another: the "
           "reassignment alone",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {Written(1000, 0, v1::TCP_STATE_CLOSE_WAIT)},
             10,
             {}},
            {{On("node-2", Detach(2, T(12), kServer)),
              On("node-3", Attach(1, T(13), kOther))},
             {Written(1000, 300, v1::TCP_STATE_CLOSE_WAIT)},
             15,
             {{v1::REASSIGNED_PEER, v1::CRITICAL, 300}}}}},
          {"IPv6 peer vanished",
           {{{On("node-2", Attach(1, T(0), Container("fd00::6", "gpx-srv6.1"))),
              On("node-2",
                 Detach(2, T(5), Container("fd00::6", "gpx-srv6.1")))},
             {[] {
               SocketSpec spec = Stuck();
               spec.remote_ip = "fd00::6";
               spec.local_ip = "fd00::8";
               return spec;
             }()},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"a DETACH with no known start is evidence of an owner",
           {{{On("node-2", Detach(1, T(5), kServer))},
             {Stuck()},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          // Address scope: node-local addresses are resolved on the
          // client's node only (node-1 here).
          {"two nodes reuse a bridge address; the other node's holder dies",
           {{{On("node-1", Attach(1, T(0), kBridgeHere)),
              On("node-2", Attach(1, T(0), kBridgeThere))},
             {To("172.18.0.3", Stuck())},
             10,
             {}},
            {{On("node-2", Detach(2, T(12), kBridgeThere))},
             {To("172.18.0.3", Stuck())},
             15,
             {}},
            {{}, {To("172.18.0.3", Stuck())}, 20, {}}}},
          {"our bridge peer left while another node still holds the address",
           {{{On("node-1", Attach(1, T(0), kBridgeHere)),
              On("node-2", Attach(1, T(0), kBridgeThere))},
             {To("172.18.0.3", Stuck())},
             10,
             {}},
            {{On("node-1", Detach(2, T(12), kBridgeHere))},
             {To("172.18.0.3", Stuck())},
             15,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"our bridge peer left and another node took the address: vanished",
           {{{On("node-1", Attach(1, T(0), kBridgeHere))},
             {To("172.18.0.3", Stuck())},
             10,
             {}},
            {{On("node-1", Detach(2, T(12), kBridgeHere)),
              On("node-2", Attach(1, T(13), kBridgeThere))},
             {To("172.18.0.3", Stuck())},
             15,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"our bridge address handed to another container here: reassigned",
           {{{On("node-1", Attach(1, T(0), kBridgeHere))},
             {To("172.18.0.3", Stuck())},
             10,
             {}},
            {{On("node-1", Detach(2, T(12), kBridgeHere)),
              On("node-1", Attach(3, T(13), kBridgeNext))},
             {To("172.18.0.3", Stuck())},
             15,
             {{v1::REASSIGNED_PEER, v1::CRITICAL}}}}},
          {"only another node ever held the bridge address: never judged",
           {{{On("node-2", Attach(1, T(0), kBridgeThere)),
              On("node-2", Detach(2, T(5), kBridgeThere))},
             {To("172.18.0.3", Stuck())},
             10,
             {}}}},
          // Rule 7: translated sockets are judged on their backend.
          {"VIP socket whose backend vanished: critical",
           {{DbBackendGone(),
             {Via("10.0.1.2", "10.0.1.6", Stuck(720))},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL, 720}}}}},
          {"VIP socket whose backend vanished, idle: warning",
           {{DbBackendGone(),
             {Via("10.0.1.2", "10.0.1.6", Idle())},
             10,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"VIP socket whose backend lives: nothing",
           {{{On("manager-1", Attach(1, T(0), kDbVip)),
              On("node-2", Attach(1, T(0), kDb1))},
             {Via("10.0.1.2", "10.0.1.6", Stuck())},
             10,
             {}}}},
          {"VIP socket whose backend address went to another task: reassigned",
           {{{On("manager-1", Attach(1, T(0), kDbVip)),
              On("node-2", Attach(1, T(0), kDb1))},
             {Via("10.0.1.2", "10.0.1.6", Stuck())},
             10,
             {}},
            {{On("node-2", Detach(2, T(12), kDb1)),
              On("node-3", Attach(1, T(13), kDb2))},
             {Via("10.0.1.2", "10.0.1.6", Stuck())},
             15,
             {{v1::REASSIGNED_PEER, v1::CRITICAL}}}}},
          {"VIP socket with no translation found: nothing, backend gone or not",
           {{DbBackendGone(),
             {[] {
               SocketSpec spec = Stuck();
               spec.remote_ip = "10.0.1.2";
               spec.remote_port = 5432;
               return spec;
             }()},
             10,
             {}}}},
          {"plain DNAT address nobody owns, backend vanished: critical",
           {{{On("node-2", Attach(1, T(0), kDb1)),
              On("node-2", Detach(2, T(5), kDb1))},
             {Via("10.77.9.9", "10.0.1.6", Stuck())},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
          {"backend nobody ever held: nothing",
           {{{On("manager-1", Attach(1, T(0), kDbVip))},
             {Via("10.0.1.2", "10.0.9.9", Stuck())},
             10,
             {}}}},
          {"backend on loopback or the client's own address: nothing",
           {{{On("node-2", Attach(1, T(0), Container("127.0.0.1", "odd"))),
              On("node-2", Detach(2, T(1), Container("127.0.0.1", "odd"))),
              On("node-2", Attach(3, T(0), Container("10.0.1.8", "me"))),
              On("node-2", Detach(4, T(1), Container("10.0.1.8", "me")))},
             {Via("10.0.1.2", "127.0.0.1", Stuck()),
              Via("10.0.1.2", "10.0.1.8", Stuck())},
             10,
             {}}}},
          {"backend held by the client's own namespace: nothing",
           {{{On("node-2", Attach(1, T(0), kDb1)),
              On("node-2", Detach(2, T(5), kDb1))},
             {Via("10.0.1.2", "10.0.1.6", Stuck())},
             10,
             {},
             {"10.0.1.6"}}}},
          {"a VIP's remote address that vanished says nothing when the "
           "backend lives",
           {{{On("node-2", Attach(1, T(0), Container("10.77.9.9", "old.1"))),
              On("node-2", Detach(2, T(5), Container("10.77.9.9", "old.1"))),
              On("node-2", Attach(3, T(0), kDb1))},
             {Via("10.77.9.9", "10.0.1.6", Stuck())},
             10,
             {}}}},
          // Rule 8: connected UDP.
          {"UDP to a vanished peer: warning, nothing counted at risk",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {[] {
               SocketSpec spec = Udp();
               spec.send_queue = 4096;
               return spec;
             }()},
             10,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"UDP to a reassigned peer: warning",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Udp()}, 10, {}},
            {{On("node-2", Detach(2, T(12), kServer)),
              On("node-3", Attach(1, T(13), kOther))},
             {Udp()},
             15,
             {{v1::REASSIGNED_PEER, v1::WARNING, 0}}}}},
          {"UDP through a translation to a vanished backend: warning",
           {{DbBackendGone(),
             {Via("10.0.1.2", "10.0.1.6", Udp())},
             10,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"UDP to a live peer: nothing",
           {{{On("node-2", Attach(1, T(0), kServer))}, {Udp()}, 10, {}}}},
          {"UDP unconnected (no remote port, wildcard remote): nothing",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {[] {
                SocketSpec spec = Udp();
                spec.remote_port = 0;
                return spec;
              }(),
              [] {
                SocketSpec spec = Udp();
                spec.remote_ip = "0.0.0.0";
                return spec;
              }(),
              [] {
                SocketSpec spec = Udp();
                spec.remote_ip = "::";
                spec.local_ip = "::";
                return spec;
              }()},
             10,
             {}}}},
          {"UDP to loopback: nothing",
           {{{On("node-2", Attach(1, T(0), Container("127.0.0.53", "dns"))),
              On("node-2", Detach(2, T(1), Container("127.0.0.53", "dns")))},
             {To("127.0.0.53", Udp())},
             10,
             {}}}},
          {"UDP in whatever state it reports is judged; never a close-wait "
           "writer",
           {{{On("node-2", Attach(1, T(0), kServer))},
             {WithState(Udp(), v1::TCP_STATE_CLOSE)},
             10,
             {}},
            {{},
             {[] {
               SocketSpec spec = WithState(Udp(), v1::TCP_STATE_CLOSE_WAIT);
               spec.send_queue = 300;
               return spec;
             }()},
             15,
             {}},
            {{On("node-2", Detach(2, T(16), kServer))},
             {WithState(Udp(), v1::TCP_STATE_CLOSE)},
             20,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"UDP with a stray tcp_info: the peer is never heard from it",
           {{{On("node-2", Attach(1, T(0), kServer)),
              On("node-2", Detach(2, T(5), kServer))},
             {[] {
               // Heard 1 s ago by TCP's reading: would suppress a TCP ghost.
               SocketSpec spec = Udp();
               spec.tcp_info = true;
               return spec;
             }()},
             100,
             {{v1::VANISHED_PEER, v1::WARNING, 0}}}}},
          {"overlay peer on another node vanished: cluster-wide",
           {{{On("node-2",
                 Attach(1, T(0), Overlay("10.0.1.6", "gpx-o.1", "node-2"))),
              On("node-2",
                 Detach(2, T(5), Overlay("10.0.1.6", "gpx-o.1", "node-2")))},
             {Stuck()},
             10,
             {{v1::VANISHED_PEER, v1::CRITICAL}}}}},
      };
  return *cases;
}

class DetectorTest : public ::testing::TestWithParam<DetectorCase> {};

TEST_P(DetectorTest, FindsWhatTheEvidenceShows) {
  const DetectorCase& c = GetParam();
  AddressHistory history;
  ConnectionMemory memory;
  for (size_t s = 0; s < c.steps.size(); ++s) {
    const Step& step = c.steps[s];
    HistoryChanges changes;
    for (const auto& [reporter, event] : step.events) {
      history.Apply(reporter, event, &changes);
    }
    std::vector<v1::SocketRecord> records;
    for (const SocketSpec& spec : step.sockets) records.push_back(Socket(spec));
    // Distinct sockets when a step lists several (orphans keep inode 0).
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].inode() != 0) records[i].set_inode(1000 + i);
    }
    std::vector<SocketView> views;
    for (const auto& record : records) views.push_back({&record, 0});
    v1::NodeSnapshot meta;
    v1::NamespaceInfo* ns = meta.add_namespaces();
    ns->set_inode(SocketSpec{}.netns_inode);
    for (const std::string& address : step.own_addresses) {
      ns->add_addresses()->set_address(address);
    }
    DetectionInput input;
    input.node = "node-1";
    input.now = T(step.taken_at);
    input.taken_at = T(step.taken_at);
    input.sockets = views;
    input.namespaces = &meta.namespaces();
    std::vector<DetectedFinding> found =
        Detect(input, history, AtOnce(), &memory);

    std::vector<std::string> got, want;
    for (const auto& d : found) {
      got.push_back(Describe(d.finding.kind(), d.finding.severity()));
      EXPECT_FALSE(d.finding.story().empty());
      EXPECT_EQ(d.finding.status(), v1::OPEN);
    }
    for (const Expected& e : step.expected) {
      want.push_back(Describe(e.kind, e.severity));
      if (e.bytes_at_risk < 0) continue;
      for (const auto& d : found) {
        if (d.finding.kind() != e.kind) continue;
        EXPECT_EQ(d.finding.bytes_at_risk(),
                  static_cast<uint64_t>(e.bytes_at_risk))
            << c.name << ", step " << s << ", " << Describe(e.kind, e.severity);
      }
    }
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(absl::StrJoin(got, " "), absl::StrJoin(want, " "))
        << c.name << ", step " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DetectorTest, ::testing::ValuesIn(Cases()),
    [](const ::testing::TestParamInfo<DetectorCase>& info) {
      std::string name;
      for (char ch : info.param.name) {
        name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      }
      return name;
    });

TEST(DetectorFindingTest, CarriesOwnersStoryAndStableId) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kServer), &changes);
  history.Apply("node-2", Detach(2, T(3724), kServer), &changes);
  const v1::SocketRecord record = Socket(Stuck(1794));
  const std::vector<SocketView> views = {{&record, 0}};
  DetectionInput input;
  input.node = "node-1";
  input.now = T(3730);
  input.taken_at = T(3730);
  input.sockets = views;
  ConnectionMemory memory;
  auto found = Detect(input, history, AtOnce(), &memory);
  ASSERT_EQ(found.size(), 1u);
  const v1::Finding& f = found[0].finding;
  EXPECT_EQ(f.peer_last_owner().task(), "gpx-srv.1");
  EXPECT_EQ(FromProto(f.peer_last_owner().until()), T(3724));
  EXPECT_FALSE(f.has_peer_current_owner());
  EXPECT_EQ(f.id(), FindingId("node-1", SocketKeyView::Of(record)));
  EXPECT_EQ(f.id().size(), 16u);
  EXPECT_EQ(
      f.story(),
      "gpx-cli.1 on node-1 is writing to 10.0.1.6:27017, which "
      "belonged to gpx-srv.1 until 09:02:04 UTC; nobody holds it now; "
      "1.8 KB at risk"
      ". Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it "
      "notices by itself: its kernel would otherwise keep retrying for "
      "about 15m21s more")
      << "told at detection (input.now), in UTC, as common/story.h says";
  // Same input, fresh memory: the same id and finding (deterministic).
  ConnectionMemory again;
  auto second = Detect(input, history, AtOnce(), &again);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].finding.SerializeAsString(), f.SerializeAsString());
}

// One snapshot of one socket on node-1 at T(at), confirmations 1.
std::vector<DetectedFinding> DetectOne(const AddressHistory& history,
                                       const v1::SocketRecord& record,
                                       double at, ConnectionMemory* memory,
                                       DetectorOptions options = AtOnce()) {
  const std::vector<SocketView> views = {{&record, 0}};
  DetectionInput input;
  input.node = "node-1";
  input.now = T(at);
  input.taken_at = T(at);
  input.sockets = views;
  return Detect(input, history, options, memory);
}

TEST(DetectorTranslationTest, NamesTheVipItsServiceAndTheDeadBackend) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("manager-1", Attach(1, T(0), kDbVip), &changes);
  history.Apply("node-2", Attach(1, T(0), kDb1), &changes);
  history.Apply("node-2", Detach(2, T(3724), kDb1), &changes);
  const v1::SocketRecord record =
      Socket(Via("10.0.1.2", "10.0.1.6", Stuck(70 * 1024)));
  ConnectionMemory memory;
  auto found = DetectOne(history, record, 3730, &memory);
  ASSERT_EQ(found.size(), 1u);
  const v1::Finding& f = found[0].finding;
  EXPECT_EQ(f.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(f.severity(), v1::CRITICAL);
  EXPECT_EQ(f.vip_owner().kind(), v1::OWNER_KIND_SWARM_VIP);
  EXPECT_EQ(f.vip_owner().service(), "db");
  EXPECT_EQ(f.vip_owner().address(), "10.0.1.2");
  EXPECT_EQ(f.peer_last_owner().task(), "db.1");
  EXPECT_EQ(f.peer_last_owner().address(), "10.0.1.6");
  EXPECT_EQ(f.socket().backend_ip(), "10.0.1.6");
  EXPECT_EQ(f.bytes_at_risk(), 70u * 1024);
  EXPECT_EQ(
      f.story(),
      "gpx-cli.1 on node-1 is writing to db's VIP 10.0.1.2:5432, whose "
      "connection still goes to 10.0.1.6:5432 (db.1, gone since "
      "09:02:04 UTC); 70 KB at risk"
      ". Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it "
      "notices by itself: its kernel would otherwise keep retrying for "
      "about 15m21s more");
}

TEST(DetectorTranslationTest, AVipNobodyOwnsIsNamedByItsTranslation) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kDb1), &changes);
  history.Apply("node-2", Detach(2, T(3724), kDb1), &changes);
  const v1::SocketRecord record =
      Socket(Via("10.77.9.9", "10.0.1.6", Stuck(2048)));
  ConnectionMemory memory;
  auto found = DetectOne(history, record, 3730, &memory);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].finding.has_vip_owner());
  EXPECT_EQ(
      found[0].finding.story(),
      "gpx-cli.1 on node-1 is writing to 10.77.9.9:5432, translated to "
      "10.0.1.6:5432 (db.1, gone since 09:02:04 UTC); 2.0 KB at risk"
      ". Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it "
      "notices by itself: its kernel would otherwise keep retrying for "
      "about 15m21s more");
}

TEST(DetectorTranslationTest, AReassignedBackendNamesBothOwners) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("manager-1", Attach(1, T(0), kDbVip), &changes);
  history.Apply("node-2", Attach(1, T(0), kDb1), &changes);
  const v1::SocketRecord record = Socket(Via("10.0.1.2", "10.0.1.6", Stuck()));
  ConnectionMemory memory;
  EXPECT_THAT(DetectOne(history, record, 10, &memory), IsEmpty());
  history.Apply("node-2", Detach(2, T(12), kDb1), &changes);
  history.Apply("node-3", Attach(1, T(13), kDb2), &changes);
  auto found = DetectOne(history, record, 15, &memory);
  ASSERT_EQ(found.size(), 1u);
  const v1::Finding& f = found[0].finding;
  EXPECT_EQ(f.kind(), v1::REASSIGNED_PEER);
  EXPECT_EQ(f.vip_owner().service(), "db");
  EXPECT_EQ(f.peer_last_owner().task(), "db.1");
  EXPECT_EQ(f.peer_current_owner().task(), "db.2");
}

TEST(DetectorTranslationTest, ATranslationFoundLaterStartsTheMemoryAgain) {
  // A socket to 10.0.1.7 judged directly at first; then the agent finds
  // its translation to 10.0.1.6. Who held 10.0.1.7 says nothing of
  // 10.0.1.6: first sight (time, holders, streaks) starts again there.
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), Container("10.0.1.7", "x.1")),
                &changes);
  history.Apply("node-3", Attach(1, T(0), kOther), &changes);
  v1::SocketRecord record = Socket(To("10.0.1.7", Stuck()));
  ConnectionMemory memory;
  EXPECT_THAT(DetectOne(history, record, 5, &memory), IsEmpty());
  ASSERT_EQ(memory.sockets.size(), 1u);
  const SocketMemory& mem = memory.sockets.begin()->second;
  EXPECT_EQ(mem.target, "10.0.1.7");
  record.set_backend_ip("10.0.1.6");
  record.set_backend_port(27017);
  // gpx-other.1 held 10.0.1.6 at first sight of it: no finding.
  EXPECT_THAT(DetectOne(history, record, 10, &memory), IsEmpty());
  ASSERT_EQ(memory.sockets.size(), 1u);
  EXPECT_EQ(mem.target, "10.0.1.6");
  EXPECT_EQ(mem.first_seen, T(10));
  ASSERT_EQ(mem.first_holders.size(), 1u);
  EXPECT_EQ(history.OwnerContainerId(mem.first_holders[0]),
            kOther.container_id());
}

TEST(DetectorUdpTest, WaitsForConfirmationsEvenAfterAReportedDeparture) {
  // No acknowledgement and no tcp_info: nothing proves a single snapshot
  // right, so a Docker die does not shortcut the two snapshots.
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT), &changes);
  SocketSpec spec = Udp();
  spec.send_queue = 512;
  const v1::SocketRecord record = Socket(spec);
  ConnectionMemory memory;
  const DetectorOptions production;
  EXPECT_THAT(DetectOne(history, record, 5, &memory, production), IsEmpty());
  history.Apply("node-2", Detach(2, T(7), kServer, v1::DOCKER_EVENT), &changes);
  EXPECT_THAT(DetectOne(history, record, 10, &memory, production), IsEmpty());
  auto found = DetectOne(history, record, 15, &memory, production);
  ASSERT_EQ(found.size(), 1u);
  const v1::Finding& f = found[0].finding;
  EXPECT_EQ(f.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(f.severity(), v1::WARNING);
  EXPECT_EQ(f.bytes_at_risk(), 0u);
  EXPECT_EQ(f.story(),
            "gpx-cli.1 on node-1 sends to 10.0.1.6:514, which belonged to "
            "gpx-srv.1 until 08:00:07 UTC; nobody holds it now; its datagrams "
            "go unanswered (UDP; send queue 512 B, receive queue 0 B)");
}

TEST(DetectorFindingTest, IdsAreTheSocketsOnItsNode) {
  const v1::SocketRecord a = Socket(SocketSpec{});
  SocketSpec other;
  other.local_port = 50387;
  const v1::SocketRecord b = Socket(other);
  const auto ka = SocketKeyView::Of(a);
  EXPECT_EQ(FindingId("node-1", ka), FindingId("node-1", ka));
  EXPECT_NE(FindingId("node-1", ka), FindingId("node-1", SocketKeyView::Of(b)));
  EXPECT_NE(FindingId("node-1", ka), FindingId("node-9", ka));
  // What an id is made of is persisted: it must not move between builds.
  EXPECT_EQ(FindingId("node-1", ka), "8ffd8cb675a712b9");
}

// One socket, one finding (rules 3-5): a ghost in CLOSE_WAIT is first a
// close-wait writer (one snapshot of absence confirms nothing), then the
// vanished peer it is, under the same id.
TEST(DetectorFindingTest, ACloseWaitGhostIsOneFindingWhoseKindChanges) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kServer), &changes);
  ConnectionMemory memory;
  const DetectorOptions production;
  const v1::SocketRecord fin =
      Socket(Written(1000, 0, v1::TCP_STATE_CLOSE_WAIT));
  EXPECT_THAT(DetectOne(history, fin, 10, &memory, production), IsEmpty());
  const v1::SocketRecord wrote =
      Socket(Written(1000, 300, v1::TCP_STATE_CLOSE_WAIT));
  history.Apply("node-2", Detach(2, T(12), kServer), &changes);
  auto first = DetectOne(history, wrote, 15, &memory, production);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].finding.kind(), v1::CLOSE_WAIT_WRITER);
  auto second = DetectOne(history, wrote, 20, &memory, production);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].finding.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(second[0].finding.id(), first[0].finding.id());
  EXPECT_NE(second[0].finding.story().find("the peer had closed"),
            std::string::npos)
      << second[0].finding.story();
}

// A UDP socket's finding is not its TCP twin's; a TCP id is the one it had
// before UDP support (ids are stored), whether the agent says TCP or, older,
// nothing.
TEST(DetectorFindingTest, IdsDifferByProtocolAndTcpIdsAreUnchanged) {
  v1::SocketRecord tcp = Socket(SocketSpec{});
  tcp.set_protocol(v1::PROTOCOL_TCP);
  v1::SocketRecord old_agent = tcp;
  old_agent.clear_protocol();
  v1::SocketRecord udp = tcp;
  udp.set_protocol(v1::PROTOCOL_UDP);
  const std::string tcp_id = FindingId("node-1", SocketKeyView::Of(tcp));
  EXPECT_EQ(tcp_id, FindingId("node-1", SocketKeyView::Of(old_agent)));
  EXPECT_NE(tcp_id, FindingId("node-1", SocketKeyView::Of(udp)));
}

TEST(DetectorFindingTest, ReAgedRecordsDateThePeerCorrectly) {
  // A base record heard 1 s before its snapshot, carried 299 s into a delta:
  // the peer was last heard at T(0), while gpx-srv.1 held the address.
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(-100), kServer), &changes);
  history.Apply("node-2", Detach(2, T(100), kServer), &changes);
  history.Apply("node-3", Attach(1, T(200), kOther), &changes);
  const v1::SocketRecord record = Socket(HeardAgo(1000, Stuck()));
  const std::vector<SocketView> views = {{&record, 299000}};
  DetectionInput input;
  input.node = "node-1";
  input.now = T(300);
  input.taken_at = T(300);
  input.sockets = views;
  ConnectionMemory memory;
  auto found = Detect(input, history, AtOnce(), &memory);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].finding.kind(), v1::REASSIGNED_PEER);
  EXPECT_EQ(found[0].finding.socket().tcp_info().last_ack_recv_ms(), 300000u);
  EXPECT_EQ(found[0].finding.peer_current_owner().task(), "gpx-other.1");
}

TEST(DetectorMemoryTest, ForgetsSocketsThatWentAway) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kServer), &changes);
  const v1::SocketRecord record = Socket(Idle());
  std::vector<SocketView> views = {{&record, 0}};
  DetectionInput input;
  input.node = "node-1";
  input.sockets = views;
  ConnectionMemory memory;
  Detect(input, history, AtOnce(), &memory);
  EXPECT_EQ(memory.sockets.size(), 1u);
  input.sockets = {};
  Detect(input, history, AtOnce(), &memory);
  EXPECT_TRUE(memory.sockets.empty());
}

TEST(DetectorMemoryTest, EncodeDecodeRoundTrip) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(0), kServer), &changes);
  SocketMemory memory;
  memory.first_seen = T(42);
  memory.history_mark = 7;
  memory.first_holders = {history.Find("10.0.1.6")->intervals[0].owner_id};
  memory.has_written = true;
  memory.written = 123456789012ULL;
  memory.fin_seen = true;
  memory.written_at_fin = 99;
  memory.acked_at_fin = 98;
  memory.vanished_streak = 2;
  memory.reassigned_streak = 0;
  memory.target = "fd00::6";
  const std::string encoded = EncodeMemory(memory, history);

  AddressHistory fresh;  // another process: owners are interned anew
  absl::StatusOr<SocketMemory> decoded = DecodeMemory(encoded, &fresh);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->first_seen, T(42));
  EXPECT_EQ(decoded->history_mark, 7);
  EXPECT_EQ(decoded->written, 123456789012ULL);
  EXPECT_TRUE(decoded->fin_seen);
  EXPECT_EQ(decoded->written_at_fin, 99u);
  EXPECT_EQ(decoded->acked_at_fin, 98u);
  EXPECT_EQ(decoded->vanished_streak, 2u);
  EXPECT_EQ(decoded->reassigned_streak, 0u);
  EXPECT_EQ(decoded->target, "fd00::6");
  ASSERT_EQ(decoded->first_holders.size(), 1u);
  EXPECT_EQ(fresh.OwnerKey(decoded->first_holders[0]),
            history.OwnerKey(memory.first_holders[0]));
  EXPECT_EQ(fresh.OwnerContainerId(decoded->first_holders[0]),
            kServer.container_id());

  EXPECT_EQ(DecodeMemory("garbage", &fresh).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMemory("1 2 3", &fresh).status().code(),
            absl::StatusCode::kDataLoss);
  // Format 2 (before translations) has no target: it is learnt again.
  absl::StatusOr<SocketMemory> v2 =
      DecodeMemory("2 42000000 7 1 500 1 99 98 2 0", &fresh);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->target, "");
  absl::StatusOr<SocketMemory> none =
      DecodeMemory("3 42000000 7 1 500 1 99 98 2 0 -", &fresh);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->target, "");
  EXPECT_EQ(DecodeMemory("3 42000000 7 1 500 1 99 98 2 0 \\x", &fresh)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(DetectorMemoryTest, FormatOneCountsAsConfirmed) {
  // Memory stored before confirmations came with a finding already raised.
  AddressHistory fresh;
  absl::StatusOr<SocketMemory> decoded =
      DecodeMemory("1 42000000 7 1 500 1 99 98", &fresh);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->written, 500u);
  EXPECT_GE(decoded->vanished_streak, 2u);
  EXPECT_GE(decoded->reassigned_streak, 2u);
  EXPECT_EQ(
      DecodeMemory("2 42000000 7 1 500 1 99 98 -1 0", &fresh).status().code(),
      absl::StatusCode::kDataLoss);
}

// One connection stuck with queued data, detected with the production
// options while its peer's owners come and go.
class DetectorConfirmationTest : public ::testing::Test {
 protected:
  void Apply(const std::string& reporter, const v1::AddressEvent& event) {
    history_.Apply(reporter, event, &changes_);
  }
  std::vector<std::string> KindsAt(double at) {
    const std::vector<SocketView> views = {{&record_, 0}};
    DetectionInput input;
    input.node = "node-1";
    input.now = T(at);
    input.taken_at = T(at);
    input.sockets = views;
    std::vector<std::string> kinds;
    for (const DetectedFinding& d :
         Detect(input, history_, DetectorOptions(), &memory_)) {
      kinds.push_back(v1::FindingKind_Name(d.finding.kind()));
    }
    return kinds;
  }

  AddressHistory history_;
  HistoryChanges changes_;
  ConnectionMemory memory_;
  const v1::SocketRecord record_ = Socket(Stuck(100));
};

TEST_F(DetectorConfirmationTest, OneSnapshotOfAbsenceIsNoFinding) {
  Apply("node-2", Attach(1, T(0), kServer));
  EXPECT_THAT(KindsAt(5), IsEmpty());
  // Gone for one snapshot of the client, then back (a reading's gap).
  Apply("node-2", Detach(2, T(7), kServer));
  EXPECT_THAT(KindsAt(10), IsEmpty());
  Apply("node-2", Attach(3, T(12), kServer));
  EXPECT_THAT(KindsAt(15), IsEmpty());
  // Gone for good: the second snapshot that sees it raises it.
  Apply("node-2", Detach(4, T(17), kServer));
  EXPECT_THAT(KindsAt(20), IsEmpty());
  EXPECT_THAT(KindsAt(25), ElementsAre("VANISHED_PEER"));
  EXPECT_THAT(KindsAt(30), ElementsAre("VANISHED_PEER"));
}

TEST_F(DetectorConfirmationTest, AReassignmentNeedsTwoSnapshotsToo) {
  Apply("node-2", Attach(1, T(0), kServer));
  EXPECT_THAT(KindsAt(5), IsEmpty());
  Apply("node-2", Detach(2, T(7), kServer));
  Apply("node-3", Attach(1, T(7), kOther));
  EXPECT_THAT(KindsAt(10), IsEmpty());
  EXPECT_THAT(KindsAt(15), ElementsAre("REASSIGNED_PEER"));
}

// Rule 6: a departure an event reported needs one snapshot of the client,
// one inferred from absence keeps two. Times: the client's snapshots every
// 5 s; departure_skew is the default 2 s.
class FastDepartureTest : public ::testing::Test {
 protected:
  void Apply(const std::string& reporter, const v1::AddressEvent& event) {
    history_.Apply(reporter, event, &changes_);
  }
  // "KIND/SEVERITY" of each finding the client's snapshot at `at` raises.
  std::vector<std::string> At(double at, const SocketSpec& spec) {
    const v1::SocketRecord record = Socket(spec);
    const std::vector<SocketView> views = {{&record, 0}};
    DetectionInput input;
    input.node = "node-1";
    input.now = T(at);
    input.taken_at = T(at);
    input.sockets = views;
    std::vector<std::string> found;
    for (const DetectedFinding& d :
         Detect(input, history_, options_, &memory_)) {
      found.push_back(Describe(d.finding.kind(), d.finding.severity()));
    }
    return found;
  }
  // Queued data the peer has not acknowledged for `silent_s` seconds.
  static SocketSpec StuckFor(double silent_s) {
    SocketSpec spec = Stuck(720);
    spec.last_ack_recv_ms = static_cast<uint32_t>(silent_s * 1000);
    spec.last_data_recv_ms = spec.last_ack_recv_ms;
    return spec;
  }

  // The same container as the tasks API describes it (a manager's view).
  static v1::AddressOwner TaskOf(v1::AddressOwner owner) {
    owner.set_kind(v1::OWNER_KIND_SWARM_TASK);
    owner.clear_netns_inode();
    owner.clear_netns();
    return owner;
  }

  DetectorOptions options_;
  AddressHistory history_;
  HistoryChanges changes_;
  ConnectionMemory memory_;
  const std::string kVanishedCritical =
      Describe(v1::VANISHED_PEER, v1::CRITICAL);
};

TEST_F(FastDepartureTest, DockerDieRaisesAtTheFirstSnapshotAfterIt) {
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(5, StuckFor(0.1)), IsEmpty());
  Apply("node-2", Detach(2, T(7), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(3)), ElementsAre(kVanishedCritical));
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, AnEndedTaskIsAReportedDepartureToo) {
  const v1::AddressOwner task = TaskOf(kServer);
  Apply("manager-1", Attach(1, T(0), task, v1::SWARM_TASKS));
  Apply("manager-1", Detach(2, T(7), task, v1::SWARM_TASKS));
  EXPECT_THAT(At(10, StuckFor(3)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, AbsenceFromAnObservationStillNeedsTwoSnapshots) {
  Apply("node-2", Attach(1, T(0), kServer));
  Apply("node-2", Detach(2, T(7), kServer));  // OBSERVATION
  EXPECT_THAT(At(10, StuckFor(3)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, AnInventoryThatNoLongerListsItStillNeedsTwo) {
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", testing::Inventory(2, T(7), {}));
  EXPECT_THAT(At(10, StuckFor(3)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, AnObservationBlipRaisesNothing) {
  Apply("node-2", Attach(1, T(0), kServer));
  EXPECT_THAT(At(5, StuckFor(6)), IsEmpty());
  Apply("node-2", Detach(2, T(7), kServer));
  EXPECT_THAT(At(10, StuckFor(11)), IsEmpty());
  Apply("node-2", Attach(3, T(12), kServer));
  EXPECT_THAT(At(15, StuckFor(16)), IsEmpty());
  EXPECT_THAT(At(20, StuckFor(21)), IsEmpty());
}

TEST_F(FastDepartureTest, ASnapshotTakenBeforeTheDepartureNeverCounts) {
  // Within departure_skew of the departure: the client's clock may be
  // ahead, the dying peer's FIN may still be on its way.
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(9), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(3)), IsEmpty());
  // Five seconds later it counts (and is also the second snapshot).
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, ADepartureDatedAfterTheSnapshotDoesNotCount) {
  // The event was recorded before this snapshot arrived, but happened
  // after it was taken: the snapshot shows the connection while the peer
  // still lived.
  options_.confirmations = 3;
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(12), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(3)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, APeerHeardAfterTheDepartureWaitsForConfirmations) {
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(5), kServer, v1::DOCKER_EVENT));
  // Heard at T(9.5): someone answered 4.5 s after the owner left.
  EXPECT_THAT(At(10, StuckFor(0.5)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(5.5)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, NothingInFlightOrNoTcpInfoWaitsForConfirmations) {
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(5), kServer, v1::DOCKER_EVENT));
  SocketSpec idle = HeardAgo(6000);
  EXPECT_THAT(At(10, idle), IsEmpty());
  EXPECT_THAT(At(15, idle),
              ElementsAre(Describe(v1::VANISHED_PEER, v1::WARNING)));

  FastDepartureTest::memory_ = ConnectionMemory();
  SocketSpec proc = StuckFor(6);
  proc.tcp_info = false;
  EXPECT_THAT(At(20, proc), IsEmpty());
  EXPECT_THAT(At(25, proc), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, OffWhenDisabled) {
  options_.fast_departures = false;
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(5), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(6)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(11)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, DepartureLoadedFromTheStoreCountsAsAbsence) {
  // Why an interval ended is not persisted: after a restart it is trusted
  // no more than an absence.
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(5), kServer, v1::DOCKER_EVENT));
  std::vector<OwnershipInterval> stored;
  history_.ForEach([&](const OwnershipInterval& interval) {
    OwnershipInterval copy = interval;
    copy.ended_by = EndEvidence::kUnknown;
    stored.push_back(copy);
  });
  ASSERT_TRUE(history_.Load(stored).ok());
  EXPECT_THAT(At(10, StuckFor(6)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(11)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, ALateTaskPollDoesNotHoldADeadContainersAddress) {
  // The manager's tasks API still lists the task running (its next poll is
  // up to an interval away); the container's own node said it died.
  const v1::AddressOwner task = TaskOf(kServer);
  Apply("manager-1", Attach(1, T(0), task, v1::SWARM_TASKS));
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(7), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(3)), ElementsAre(kVanishedCritical));
  Apply("manager-1", Detach(2, T(7.2), task, v1::SWARM_TASKS));
  EXPECT_THAT(At(15, StuckFor(8)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, ARestartedContainerHoldsItsAddressAgain) {
  // die, then start: the same container id holds the address from the
  // start on; the departure before it proves nothing about now.
  const v1::AddressOwner task = TaskOf(kServer);
  Apply("manager-1", Attach(1, T(0), task, v1::SWARM_TASKS));
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  Apply("node-2", Detach(2, T(7), kServer, v1::DOCKER_EVENT));
  v1::AddressOwner restarted = kServer;
  restarted.set_netns_inode(4026539999);
  restarted.set_netns("inode:4026539999");
  Apply("node-2", Attach(3, T(8), restarted, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(3)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(8)), IsEmpty());
}

TEST_F(FastDepartureTest, ALateObservationOfTheSameContainerKeepsTheDieTime) {
  // Docker knew the container by another identity than the observation
  // (no namespace inode), so the observation's close comes at node-2's
  // next snapshot; the departure is still Docker's.
  v1::AddressOwner by_docker = kServer;
  by_docker.clear_netns_inode();
  by_docker.clear_netns();
  Apply("node-2", Attach(1, T(0), kServer));
  Apply("node-2", Attach(2, T(0), by_docker, v1::DOCKER_EVENT));
  Apply("node-2", Detach(3, T(7), by_docker, v1::DOCKER_EVENT));
  Apply("node-2", Detach(4, T(11), kServer));
  EXPECT_THAT(At(12, StuckFor(5)), ElementsAre(kVanishedCritical));
}

TEST_F(FastDepartureTest, AReassignmentAfterADockerDieRaisesAtOnce) {
  Apply("node-2", Attach(1, T(0), kServer, v1::DOCKER_EVENT));
  EXPECT_THAT(At(5, StuckFor(0.1)), IsEmpty());
  Apply("node-2", Detach(2, T(6), kServer, v1::DOCKER_EVENT));
  Apply("node-3", Attach(1, T(7), kOther, v1::DOCKER_EVENT));
  EXPECT_THAT(At(10, StuckFor(4)),
              ElementsAre(Describe(v1::REASSIGNED_PEER, v1::CRITICAL)));
}

TEST_F(FastDepartureTest, AReassignmentSeenOnlyByObservationNeedsTwo) {
  Apply("node-2", Attach(1, T(0), kServer));
  EXPECT_THAT(At(5, StuckFor(0.1)), IsEmpty());
  Apply("node-2", Detach(2, T(6), kServer));
  Apply("node-3", Attach(1, T(7), kOther));
  EXPECT_THAT(At(10, StuckFor(4)), IsEmpty());
  EXPECT_THAT(At(15, StuckFor(9)),
              ElementsAre(Describe(v1::REASSIGNED_PEER, v1::CRITICAL)));
}

TEST(StoryBytesTest, Units) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1794), "1.8 KB");
  EXPECT_EQ(HumanBytes(3 * 1024 * 1024 + 400 * 1024), "3.4 MB");
}

}  // namespace
}  // namespace ghostpeer::aggregator
