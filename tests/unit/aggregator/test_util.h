// Builders shared by the aggregator's unit tests (fakes: tests/fakes/).
#ifndef GHOSTPEER_TESTS_UNIT_AGGREGATOR_TEST_UTIL_H_
#define GHOSTPEER_TESTS_UNIT_AGGREGATOR_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/address_history.h"
#include "aggregator/history_store.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace ghostpeer::aggregator::testing {

// Test times: seconds after a fixed, plausible base (2027-01-15).
inline absl::Time T(double seconds) {
  return absl::FromUnixSeconds(1800000000) + absl::Seconds(seconds);
}

using FakeClock = ::ghostpeer::fakes::FakeClock;

inline v1::Hello HelloFrom(const std::string& node,
                           const std::string& instance) {
  v1::Hello hello;
  hello.set_node(node);
  hello.set_agent_instance(instance);
  hello.set_agent_version("0.1.0");
  hello.set_kernel("6.18.0");
  return hello;
}

// A container owner: `name` is its task name, its id derives from it.
inline v1::AddressOwner Container(const std::string& address,
                                  const std::string& name,
                                  const std::string& node = "node-2",
                                  uint64_t netns_inode = 0) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_address(address);
  owner.set_container_id(name + "-0123456789abcdef");
  owner.set_container_name(name);
  owner.set_task(name);
  owner.set_node(node);
  owner.set_netns_inode(netns_inode != 0 ? netns_inode
                                         : 4026530000 + name.size());
  owner.set_netns(absl::StrCat("inode:", owner.netns_inode()));
  owner.set_network("eth0");
  return owner;
}

inline v1::AddressOwner Netns(const std::string& address,
                              const std::string& netns, const std::string& node,
                              uint64_t inode) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_NETNS);
  owner.set_address(address);
  owner.set_node(node);
  owner.set_netns(netns);
  owner.set_netns_inode(inode);
  return owner;
}

inline v1::AddressOwner Vip(const std::string& address,
                            const std::string& service) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_SWARM_VIP);
  owner.set_address(address);
  owner.set_service(service);
  owner.set_node("manager-1");
  return owner;
}

inline v1::AddressEvent Event(v1::AddressEventType type, uint64_t seq,
                              absl::Time time, const v1::AddressOwner& owner,
                              v1::AddressEventSource source = v1::OBSERVATION) {
  v1::AddressEvent event;
  event.set_seq(seq);
  event.set_type(type);
  *event.mutable_time() = ToProto(time);
  event.set_source(source);
  *event.mutable_owner() = owner;
  return event;
}
inline v1::AddressEvent Attach(
    uint64_t seq, absl::Time time, const v1::AddressOwner& owner,
    v1::AddressEventSource source = v1::OBSERVATION) {
  return Event(v1::ATTACH, seq, time, owner, source);
}
inline v1::AddressEvent Detach(
    uint64_t seq, absl::Time time, const v1::AddressOwner& owner,
    v1::AddressEventSource source = v1::OBSERVATION) {
  return Event(v1::DETACH, seq, time, owner, source);
}
inline v1::AddressEvent Inventory(
    uint64_t seq, absl::Time time, const std::vector<v1::AddressOwner>& owners,
    v1::AddressEventSource source = v1::OBSERVATION) {
  v1::AddressEvent event;
  event.set_seq(seq);
  event.set_type(v1::INVENTORY);
  *event.mutable_time() = ToProto(time);
  event.set_source(source);
  for (const auto& owner : owners) *event.add_inventory() = owner;
  return event;
}

inline v1::AddressEventBatch Batch(std::vector<v1::AddressEvent> events) {
  v1::AddressEventBatch batch;
  for (auto& e : events) *batch.add_events() = std::move(e);
  return batch;
}

// Records every finding event an Engine announces, as "TYPE KIND".
class Recorder {
 public:
  std::function<void(const v1::FindingEvent&)> Listener() {
    return [this](const v1::FindingEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(
          absl::StrCat(v1::FindingEventType_Name(event.type()), " ",
                       v1::FindingKind_Name(event.finding().kind())));
    };
  }
  std::vector<std::string> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(events_, {});
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_;
};

// A client socket on node-1, in the client's namespace, to `remote`.
struct SocketSpec {
  std::string remote_ip = "10.0.1.6";
  uint32_t remote_port = 27017;
  std::string local_ip = "10.0.1.8";
  uint32_t local_port = 50386;
  v1::TcpState state = v1::TCP_STATE_ESTABLISHED;
  uint32_t send_queue = 0;
  uint64_t bytes_acked = 1000;
  uint32_t unacked = 0;
  uint32_t backoff = 0;
  uint32_t last_ack_recv_ms = 1000;
  uint32_t last_data_recv_ms = 1000;
  bool tcp_info = true;
  uint64_t inode = 908125;
  uint64_t netns_inode = 4026532625;
  // Where a translation (DNAT, IPVS) sends the connection; empty: none.
  std::string backend_ip;
  uint32_t backend_port = 0;
  v1::Protocol protocol = v1::PROTOCOL_UNSPECIFIED;
};

// A socket whose peer stopped answering long ago (a live peer's recent ACK
// would be evidence against a ghost), `queue` bytes unacknowledged.
inline SocketSpec Stuck(uint32_t queue) {
  SocketSpec spec;
  spec.send_queue = queue;
  spec.last_ack_recv_ms = 600000;
  spec.last_data_recv_ms = 600000;
  spec.unacked = 1;
  spec.backoff = 3;
  return spec;
}

inline v1::SocketRecord Socket(const SocketSpec& spec) {
  v1::SocketRecord socket;
  socket.set_node("node-1");
  socket.set_netns_inode(spec.netns_inode);
  socket.set_local_ip(spec.local_ip);
  socket.set_local_port(spec.local_port);
  socket.set_remote_ip(spec.remote_ip);
  socket.set_remote_port(spec.remote_port);
  socket.set_state(spec.state);
  socket.set_send_queue(spec.send_queue);
  socket.set_inode(spec.inode);
  socket.set_pid(412);
  socket.set_comm("logc");
  socket.set_container_name("gpx-cli.1");
  socket.set_task("gpx-cli.1");
  socket.set_service("gpx-cli");
  socket.set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
  socket.set_protocol(spec.protocol);
  if (!spec.backend_ip.empty()) {
    socket.set_backend_ip(spec.backend_ip);
    socket.set_backend_port(spec.backend_port);
    socket.set_translated_by(v1::TRANSLATOR_CONNTRACK);
    socket.set_translation_netns_inode(4026531840);
  }
  if (spec.tcp_info) {
    v1::TcpInfo* info = socket.mutable_tcp_info();
    info->set_bytes_acked(spec.bytes_acked);
    info->set_bytes_sent(spec.bytes_acked + spec.send_queue);
    info->set_unacked(spec.unacked);
    info->set_backoff(spec.backoff);
    info->set_last_ack_recv_ms(spec.last_ack_recv_ms);
    info->set_last_data_recv_ms(spec.last_data_recv_ms);
  }
  return socket;
}

inline v1::SocketSnapshot Full(uint64_t id, absl::Time taken_at,
                               const std::vector<v1::SocketRecord>& sockets,
                               const std::string& node = "node-1") {
  v1::SocketSnapshot snapshot;
  snapshot.set_snapshot_id(id);
  snapshot.set_full(true);
  v1::NodeSnapshot* body = snapshot.mutable_snapshot();
  body->set_node(node);
  *body->mutable_taken_at() = ToProto(taken_at);
  body->set_agent_version("0.1.0");
  for (const auto& socket : sockets) {
    v1::SocketRecord* added = body->add_sockets();
    *added = socket;
    added->set_node(node);
  }
  return snapshot;
}

inline v1::SocketKey KeyOf(const v1::SocketRecord& record) {
  v1::SocketKey key;
  key.set_netns_inode(record.netns_inode());
  key.set_local_ip(record.local_ip());
  key.set_local_port(record.local_port());
  key.set_remote_ip(record.remote_ip());
  key.set_remote_port(record.remote_port());
  key.set_inode(record.inode());
  key.set_protocol(record.protocol());
  return key;
}

inline v1::SocketSnapshot Delta(uint64_t id, uint64_t base, absl::Time taken_at,
                                const std::vector<v1::SocketRecord>& changed,
                                const std::vector<v1::SocketRecord>& removed,
                                const std::string& node = "node-1") {
  v1::SocketSnapshot snapshot = Full(id, taken_at, changed, node);
  snapshot.set_full(false);
  snapshot.set_base_snapshot_id(base);
  for (const auto& socket : removed) *snapshot.add_removed() = KeyOf(socket);
  return snapshot;
}

// Three interval changes to 10.0.1.6 as `history` applies them: a.1 held
// it [T(10), T(20)) for node-2, b.1 from T(30) (open) for node-3.
inline HistoryChanges SomeChanges(AddressHistory* history) {
  HistoryChanges changes;
  history->Apply("node-2", Attach(1, T(10), Container("10.0.1.6", "a.1")),
                 &changes);
  history->Apply("node-2", Detach(2, T(20), Container("10.0.1.6", "a.1")),
                 &changes);
  history->Apply("node-3",
                 Attach(1, T(30), Container("10.0.1.6", "b.1", "node-3")),
                 &changes);
  return changes;
}

// Writes a sample of everything a store keeps: SomeChanges with seq 2 from
// (node-2, inst-1), and one open finding with its memory.
inline void WriteSample(HistoryStore& store) {
  AddressHistory history;
  ASSERT_TRUE(store
                  .CommitAddressBatch("node-2", "inst-1", 2,
                                      SomeChanges(&history), T(40))
                  .ok());
  StoredFinding finding;
  finding.finding.set_id("00000000deadbeef");
  finding.finding.set_status(v1::OPEN);
  finding.finding.mutable_socket()->set_node("node-1");
  // A translated UDP socket whose finding changed kind: every field the
  // translation and one-finding-per-socket added must come back.
  finding.finding.mutable_socket()->set_protocol(v1::PROTOCOL_UDP);
  finding.finding.mutable_socket()->set_backend_ip("10.0.1.6");
  finding.finding.mutable_socket()->set_backend_port(5432);
  finding.finding.mutable_socket()->set_translated_by(v1::TRANSLATOR_IPVS);
  finding.finding.mutable_socket()->set_translation_netns_inode(4026532001);
  *finding.finding.mutable_vip_owner() = Vip("10.0.1.2", "db");
  finding.finding.set_kind(v1::VANISHED_PEER);
  finding.finding.set_previous_kind(v1::CLOSE_WAIT_WRITER);
  *finding.finding.mutable_first_seen() = ToProto(T(35));
  finding.memory = "memory";
  ASSERT_TRUE(store.SaveFindings({finding}, T(40)).ok());
}

// `state` is exactly what WriteSample wrote, field by field.
inline void ExpectSample(const StoredState& state) {
  ASSERT_EQ(state.intervals.size(), 2u);
  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(state.intervals).ok());
  const AddressRecord* record = loaded.Find("10.0.1.6");
  ASSERT_NE(record, nullptr);
  EXPECT_EQ(record->intervals[0].owner.task(), "a.1");
  EXPECT_EQ(record->intervals[0].since, T(10));
  EXPECT_EQ(record->intervals[0].until, T(20));
  EXPECT_EQ(record->intervals[0].reporter, "node-2");
  EXPECT_EQ(record->intervals[0].source, v1::OBSERVATION);
  EXPECT_EQ(record->intervals[0].close_reason, v1::CLOSE_REASON_DETACHED);
  EXPECT_TRUE(record->intervals[1].open());
  EXPECT_EQ(record->intervals[1].close_reason, v1::CLOSE_REASON_UNSPECIFIED);
  ASSERT_EQ(state.seqs.size(), 1u);
  EXPECT_EQ(state.seqs[0].node, "node-2");
  EXPECT_EQ(state.seqs[0].agent_instance, "inst-1");
  EXPECT_EQ(state.seqs[0].seq, 2u);
  ASSERT_EQ(state.findings.size(), 1u);
  EXPECT_EQ(state.findings[0].finding.id(), "00000000deadbeef");
  EXPECT_EQ(FromProto(state.findings[0].finding.first_seen()), T(35));
  EXPECT_EQ(state.findings[0].memory, "memory");
  const v1::Finding& finding = state.findings[0].finding;
  EXPECT_EQ(finding.socket().protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(finding.socket().backend_ip(), "10.0.1.6");
  EXPECT_EQ(finding.socket().backend_port(), 5432u);
  EXPECT_EQ(finding.socket().translated_by(), v1::TRANSLATOR_IPVS);
  EXPECT_EQ(finding.socket().translation_netns_inode(), 4026532001u);
  EXPECT_EQ(finding.vip_owner().service(), "db");
  EXPECT_EQ(finding.vip_owner().kind(), v1::OWNER_KIND_SWARM_VIP);
  EXPECT_EQ(finding.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(finding.previous_kind(), v1::CLOSE_WAIT_WRITER);
}

// A database path in the test's temporary directory, unique per process and
// `name`, removed (with its WAL files) before and after.
class TempDb {
 public:
  explicit TempDb(const std::string& name)
      : path_(absl::StrCat(::testing::TempDir(), "/gp_aggregator_", getpid(),
                           "_", name, ".db")) {
    Remove();
  }
  ~TempDb() { Remove(); }
  const std::string& path() const { return path_; }

 private:
  // The file and what SQLite and the side stores keep beside it.
  void Remove() {
    for (const char* store : {"", "-remediations"}) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::remove((path_ + store + suffix).c_str());
      }
    }
  }
  std::string path_;
};

}  // namespace ghostpeer::aggregator::testing

#endif  // GHOSTPEER_TESTS_UNIT_AGGREGATOR_TEST_UTIL_H_
