// A cluster of simulated agents speaking the real protocol to one
// aggregator with a SQLite store (issue 12): Hello, address events, a full
// socket snapshot, then deltas against the last acknowledged full one by
// the agent's rules (a record that changed or appeared since the base, the
// keys of sockets gone since it; a full snapshot every 12 reports, as
// DeltaEncoder's default), at a steady interval per node.
//
// Two ways in:
//   --mode=inprocess  the agents call the Engine directly (Hello,
//                     IngestAddressEvents, IngestSnapshot) from --threads
//                     threads: the large N, where a load generator plus
//                     gRPC on the same 2 cores would mostly measure itself.
//   --mode=grpc       the real AggregatorServer on 127.0.0.1:0, one Report
//                     stream per agent, spread over --threads client
//                     threads (one channel each), serialize and parse
//                     included on both sides.
//
// The simulated cluster: every node runs 20 servers (addresses attached
// through events) and --sockets client sockets; socket i of node n talks to
// server i % 20 of node (n + 1 + i / 20) % nodes, so each server has clients
// on many nodes. Per interval, --change of the sockets change (queues and
// counters move), --socket-churn of them close and reopen on a new port
// (a removed key and a new record), and --address-churn of the nodes
// replace an ephemeral container (a DETACH and an ATTACH of a new address).
// Every --ghost-every, one server dies (Docker's die: a DETACH) and its
// clients' sockets stop hearing back with data queued: detection latency is
// from that DETACH's ack to the first finding about the address.
//
// Reports, for the timed run: records/s (socket records carried, as the
// Engine counts them), CPU per record (getrusage of the process; in process
// also the CPU of the ingesting calls alone), p50/p99/max acknowledgement
// latency (from when a report was due to its ack: a load the aggregator
// cannot sustain shows as growing latency), detection latency, and memory
// per live socket (mallinfo2() uordblks + hblkhd gained while every node's
// first full snapshot was ingested, and held_bytes). Reference, same run: the
// same sockets kept as main kept them before issue 12 (the full snapshots
// as protobuf messages plus their fingerprint set and vector), measured the
// same way, on at most --reference-nodes nodes.
//
//   scale_bench [--mode=inprocess] [--nodes=500] [--sockets=2000]
//               [--interval=5s] [--seconds=20] [--threads=2]
//               [--change=0.02] [--socket-churn=0.002]
//               [--address-churn=0.01] [--ghost-every=5s]
//               [--reference-nodes=500] [--dir=/tmp]
//               [--fulls=staggered] [--replicas=1]
//
// --replicas=N (N >= 2, in process only): N aggregators (Engines) sharing
// one PostgreSQL database, a private durable server this bench starts
// (tests/support/postgres_cluster.h), each catching up on the others'
// writes every second as --replica-poll-interval does; agent n reports to
// replica n % N. Counters and latencies are summed over the replicas.
//
// --fulls=staggered (default): each agent's full snapshot falls in its own
// round, as agents started at different times send them. --fulls=aligned:
// every agent sends its full one in the same round, as right after all of
// them reconnected at once (an aggregator restart): the worst case.
//
// Issue 12's target: --nodes=5000 --sockets=2000 (10 million sockets).
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "aggregator/server.h"
#include "aggregator/socket_state.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/postgres_cluster.h"

namespace ghostpeer::aggregator {
namespace {

constexpr int kServersPerNode = 20;
constexpr int kContainersPerNode = 50;  // client containers
constexpr int kFullEvery = 12;          // DeltaEncoder's default

struct BenchOptions {
  std::string mode = "inprocess";
  int nodes = 500;
  int sockets = 2000;
  absl::Duration interval = absl::Seconds(5);
  absl::Duration run_for = absl::Seconds(20);
  int threads = 2;
  double change = 0.02;
  double socket_churn = 0.002;
  double address_churn = 0.01;
  absl::Duration ghost_every = absl::Seconds(5);
  int reference_nodes = 500;
  std::string dir = "/tmp";
  bool aligned_fulls = false;
  int replicas = 1;
};

bool ParseFlag(const std::string& arg, BenchOptions* o) {
  auto value = [&](absl::string_view name, std::string* out) {
    const std::string prefix = absl::StrCat("--", name, "=");
    if (!absl::StartsWith(arg, prefix)) return false;
    *out = arg.substr(prefix.size());
    return true;
  };
  std::string v;
  if (value("mode", &v)) {
    o->mode = v;
    return v == "inprocess" || v == "grpc";
  }
  if (value("nodes", &v)) return absl::SimpleAtoi(v, &o->nodes) && o->nodes > 1;
  if (value("sockets", &v)) {
    return absl::SimpleAtoi(v, &o->sockets) && o->sockets > 0 &&
           o->sockets <= 60000;
  }
  if (value("interval", &v)) {
    return absl::ParseDuration(v, &o->interval) &&
           o->interval > absl::ZeroDuration();
  }
  if (value("seconds", &v)) {
    int s = 0;
    if (!absl::SimpleAtoi(v, &s) || s <= 0) return false;
    o->run_for = absl::Seconds(s);
    return true;
  }
  if (value("threads", &v)) {
    return absl::SimpleAtoi(v, &o->threads) && o->threads > 0 &&
           o->threads <= 64;
  }
  if (value("change", &v)) return absl::SimpleAtod(v, &o->change);
  if (value("socket-churn", &v)) return absl::SimpleAtod(v, &o->socket_churn);
  if (value("address-churn", &v)) {
    return absl::SimpleAtod(v, &o->address_churn);
  }
  if (value("ghost-every", &v)) {
    return absl::ParseDuration(v, &o->ghost_every) &&
           o->ghost_every > absl::ZeroDuration();
  }
  if (value("reference-nodes", &v)) {
    return absl::SimpleAtoi(v, &o->reference_nodes) && o->reference_nodes >= 0;
  }
  if (value("dir", &v)) {
    o->dir = v;
    return true;
  }
  if (value("replicas", &v)) {
    return absl::SimpleAtoi(v, &o->replicas) && o->replicas >= 1 &&
           o->replicas <= 8;
  }
  if (value("fulls", &v)) {
    o->aligned_fulls = v == "aligned";
    return v == "aligned" || v == "staggered";
  }
  return false;
}

std::string NodeName(int node) { return absl::StrCat("node-", node); }
// 10.a.b.c with a node's 250 addresses in one /24-ish block.
std::string Address(int node, int host) {
  return absl::StrCat("10.", 1 + node / 250, ".", node % 250, ".", host);
}
std::string ServerAddress(int node, int server) {
  return Address(node, 10 + server);
}
std::string ClientAddress(int node, int container) {
  return Address(node, 100 + container);
}
// The ephemeral container's address: its generation picks it among 50.
std::string EphemeralAddress(int node, int generation) {
  return Address(node, 200 + generation % 50);
}

v1::AddressOwner Owner(int node, const std::string& id,
                       const std::string& address) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_address(address);
  owner.set_container_id(absl::StrCat(id, "-", node));
  owner.set_container_name(absl::StrCat(id, ".", node));
  owner.set_service(id);
  owner.set_node(NodeName(node));
  owner.set_netns_inode(4026531000 + std::hash<std::string>()(id) % 1000);
  owner.set_network("overlay");
  owner.set_scope(v1::ADDRESS_SCOPE_CLUSTER);
  return owner;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Bytes malloc has handed out and not had back: from its arenas
// (uordblks) and as mmapped blocks (hblkhd; large vectors and hash tables).
size_t HeapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// The cluster the agents report: who talks to whom, which server died.
class Cluster {
 public:
  Cluster(int nodes, int sockets) : nodes_(nodes), sockets_(sockets) {}

  int nodes() const { return nodes_; }
  int sockets() const { return sockets_; }
  int PeerNode(int node, int slot) const {
    return (node + 1 + slot / kServersPerNode) % nodes_;
  }
  static int PeerServer(int slot) { return slot % kServersPerNode; }

  // When server (node, server) died; InfinitePast if it lives.
  absl::Time DiedAt(int node, int server) const {
    absl::MutexLock lock(&mu_);
    for (const Death& d : deaths_) {
      if (d.node == node && d.server == server) return d.at;
    }
    return absl::InfinitePast();
  }
  bool AnyDead() const {
    absl::MutexLock lock(&mu_);
    return !deaths_.empty();
  }
  void Kill(int node, int server, absl::Time at) {
    absl::MutexLock lock(&mu_);
    deaths_.push_back({node, server, at});
  }

 private:
  struct Death {
    int node, server;
    absl::Time at;
  };
  const int nodes_, sockets_;
  mutable absl::Mutex mu_;
  std::vector<Death> deaths_;  // few
};

// One simulated agent: its sockets' state, what its base (last
// acknowledged full snapshot) held, and its sequence numbers.
class Agent {
 public:
  Agent(const Cluster* cluster, int node, uint64_t seed, bool aligned_fulls)
      : cluster_(cluster),
        node_(node),
        generation_(cluster->sockets(), 0),
        version_(cluster->sockets(), 0),
        full_phase_(aligned_fulls ? 0 : node % kFullEvery),
        rng_(seed) {
    // Sized now, so that taking a new base frees as much as it keeps: the
    // Engine's heap is measured with the agents in the same process.
    base_.generation.assign(cluster->sockets(), 0);
    base_.version.assign(cluster->sockets(), 0);
  }

  int node() const { return node_; }
  const std::string& name() const { return name_; }
  std::string instance() const { return absl::StrCat("bench-", node_); }

  v1::Hello Hello() const {
    v1::Hello hello;
    hello.set_node(name_);
    hello.set_agent_version("scale_bench");
    hello.set_agent_instance(instance());
    return hello;
  }

  // The servers and the ephemeral container, attached.
  v1::AddressEventBatch FirstEvents(absl::Time now) {
    v1::AddressEventBatch batch;
    for (int server = 0; server < kServersPerNode; ++server) {
      AddEvent(&batch, v1::ATTACH, v1::OBSERVATION, now,
               Owner(node_, absl::StrCat("srv", server),
                     ServerAddress(node_, server)));
    }
    AddEvent(&batch, v1::ATTACH, v1::DOCKER_EVENT, now, Ephemeral());
    return batch;
  }

  // The ephemeral container replaced: its DETACH and its successor's ATTACH.
  v1::AddressEventBatch Churn(absl::Time now) {
    v1::AddressEventBatch batch;
    AddEvent(&batch, v1::DETACH, v1::DOCKER_EVENT, now, Ephemeral());
    ++ephemeral_generation_;
    AddEvent(&batch, v1::ATTACH, v1::DOCKER_EVENT, now, Ephemeral());
    return batch;
  }

  // `count` containers of this node start at once, as after its reboot:
  // addresses 10.250.0.0/16 and up, which nothing else uses.
  v1::AddressEventBatch Burst(int count, absl::Time now) {
    v1::AddressEventBatch batch;
    for (int i = 0; i < count; ++i) {
      AddEvent(&batch, v1::ATTACH, v1::DOCKER_EVENT, now,
               Owner(node_, absl::StrCat("burst", i),
                     absl::StrCat("10.", 250 + i / 65536, ".", (i / 256) % 256,
                                  ".", i % 256)));
    }
    return batch;
  }

  // Server `server` of this node died (Docker's die).
  v1::AddressEventBatch Death(int server, absl::Time now) {
    v1::AddressEventBatch batch;
    AddEvent(&batch, v1::DETACH, v1::DOCKER_EVENT, now,
             Owner(node_, absl::StrCat("srv", server),
                   ServerAddress(node_, server)));
    return batch;
  }

  // An interval passes: sockets change, some close and reopen elsewhere.
  void Advance(double change, double churn) {
    std::uniform_real_distribution<double> coin(0, 1);
    const int n = cluster_->sockets();
    const int changed = static_cast<int>(n * change + coin(rng_));
    for (int k = 0; k < changed; ++k) ++version_[rng_() % n];
    const int churned = static_cast<int>(n * churn + coin(rng_));
    for (int k = 0; k < churned; ++k) ++generation_[rng_() % n];
  }

  // The clients of server (peer_node, server), which just died: their
  // sockets change (data queued, nothing heard).
  void PeerDied(int peer_node, int server) {
    for (int slot = server; slot < cluster_->sockets();
         slot += kServersPerNode) {
      if (cluster_->PeerNode(node_, slot) == peer_node) ++version_[slot];
    }
  }

  // The next report, full or a delta against the acknowledged base.
  v1::SocketSnapshot NextSnapshot(absl::Time taken_at) {
    v1::SocketSnapshot out;
    out.set_snapshot_id(++snapshot_id_);
    const bool full = base_id_ == 0 || since_full_ >= kFullEvery - 1;
    out.set_full(full);
    v1::NodeSnapshot* body = out.mutable_snapshot();
    body->set_node(name_);
    body->set_agent_version("scale_bench");
    *body->mutable_taken_at() = ToProto(taken_at);
    for (int c = 0; c < kContainersPerNode; ++c) {
      v1::NamespaceInfo* ns = body->add_namespaces();
      ns->set_inode(4026540000 + c);
      ns->set_status(v1::NAMESPACE_STATUS_OK);
      ns->set_container_id(absl::StrCat("cli", c, "-", node_));
      ns->add_addresses()->set_address(ClientAddress(node_, c));
    }
    const int n = cluster_->sockets();
    if (full) {
      body->mutable_sockets()->Reserve(n);
      for (int slot = 0; slot < n; ++slot) {
        *body->add_sockets() =
            Record(slot, generation_[slot], version_[slot], taken_at);
      }
      pending_full_ = {snapshot_id_, generation_, version_};
      // Agents started at different times send their full snapshots in
      // different rounds: the first cycle is shorter by the phase.
      since_full_ = base_id_ == 0 ? full_phase_ : 0;
    } else {
      out.set_base_snapshot_id(base_id_);
      for (int slot = 0; slot < n; ++slot) {
        const bool moved = generation_[slot] != base_.generation[slot];
        if (!moved && version_[slot] == base_.version[slot]) continue;
        if (moved) {
          const v1::SocketRecord gone =
              Record(slot, base_.generation[slot], 0, taken_at);
          v1::SocketKey* key = out.add_removed();
          key->set_netns_inode(gone.netns_inode());
          key->set_local_ip(gone.local_ip());
          key->set_local_port(gone.local_port());
          key->set_remote_ip(gone.remote_ip());
          key->set_remote_port(gone.remote_port());
          key->set_inode(gone.inode());
          key->set_protocol(gone.protocol());
        }
        *body->add_sockets() =
            Record(slot, generation_[slot], version_[slot], taken_at);
      }
      ++since_full_;
    }
    return out;
  }

  // The next snapshot is full (as after a reconnect).
  void RequireFull() { base_id_ = 0; }

  // The aggregator's answer to NextSnapshot's message.
  void OnAck(const v1::Ack& ack) {
    if (ack.full_snapshot_required()) {
      base_id_ = 0;
      return;
    }
    if (pending_full_.id != 0 && ack.full_snapshot_id() == pending_full_.id) {
      base_id_ = pending_full_.id;
      base_ = std::move(pending_full_);
      pending_full_ = {};
    }
  }

  size_t last_records = 0;

 private:
  struct Base {
    uint64_t id = 0;
    std::vector<uint16_t> generation;
    std::vector<uint16_t> version;
  };

  v1::AddressOwner Ephemeral() const {
    return Owner(node_, absl::StrCat("job", ephemeral_generation_),
                 EphemeralAddress(node_, ephemeral_generation_));
  }

  void AddEvent(v1::AddressEventBatch* batch, v1::AddressEventType type,
                v1::AddressEventSource source, absl::Time at,
                v1::AddressOwner owner) {
    v1::AddressEvent* e = batch->add_events();
    e->set_seq(++address_seq_);
    e->set_type(type);
    e->set_source(source);
    *e->mutable_time() = ToProto(at);
    *e->mutable_owner() = std::move(owner);
  }

  // Socket `slot` as the agent reads it: its key from `generation`, its
  // counters from `version`; a socket whose server died has data queued
  // and has heard nothing since.
  v1::SocketRecord Record(int slot, uint16_t generation, uint16_t version,
                          absl::Time taken_at) const {
    const int container = slot % kContainersPerNode;
    const int peer_node = cluster_->PeerNode(node_, slot);
    const int server = Cluster::PeerServer(slot);
    v1::SocketRecord s;
    s.set_node(name_);
    s.set_netns_inode(4026540000 + container);
    s.set_local_ip(ClientAddress(node_, container));
    s.set_local_port(32768 + (slot + generation * 7919) % 28000);
    s.set_remote_ip(ServerAddress(peer_node, server));
    s.set_remote_port(5432);
    s.set_state(v1::TCP_STATE_ESTABLISHED);
    s.set_inode(1000000 + slot * 64 + generation);
    s.set_cookie((uint64_t{1} << 32) + slot * 64 + generation);
    s.set_pid(400 + container);
    s.set_uid(1000);
    s.set_comm("client");
    s.set_container_id(absl::StrCat("cli", container, "-", node_));
    s.set_container_name(absl::StrCat("cli.", container, ".", node_));
    s.set_service("cli");
    s.set_task(absl::StrCat("cli.", container));
    s.set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
    s.set_protocol(v1::PROTOCOL_TCP);
    v1::TcpInfo* info = s.mutable_tcp_info();
    info->set_bytes_acked(100000 + uint64_t{version} * 1460);
    info->set_bytes_sent(100000 + uint64_t{version} * 1460);
    info->set_bytes_received(50000 + uint64_t{version} * 900);
    info->set_last_ack_recv_ms(200);
    info->set_last_data_recv_ms(200);
    info->set_last_data_sent_ms(200);
    info->set_rto_us(204000);
    info->set_rtt_us(1200);
    info->set_snd_cwnd(10);
    const absl::Time died = cluster_->AnyDead()
                                ? cluster_->DiedAt(peer_node, server)
                                : absl::InfinitePast();
    if (died != absl::InfinitePast()) {
      const int64_t silent_ms =
          std::max<int64_t>(0, absl::ToInt64Milliseconds(taken_at - died));
      s.set_send_queue(720);
      info->set_unacked(1);
      info->set_backoff(4);
      info->set_last_ack_recv_ms(static_cast<uint32_t>(silent_ms));
      info->set_last_data_recv_ms(static_cast<uint32_t>(silent_ms));
    }
    return s;
  }

  const Cluster* cluster_;
  const int node_;
  const std::string name_ = NodeName(node_);
  std::vector<uint16_t> generation_;
  std::vector<uint16_t> version_;
  Base base_;
  Base pending_full_;
  uint64_t base_id_ = 0;
  uint64_t snapshot_id_ = 0;
  uint64_t address_seq_ = 0;
  int since_full_ = 0;
  const int full_phase_;
  int ephemeral_generation_ = 0;
  std::mt19937_64 rng_;
};

// Sorted latencies, in seconds.
struct Latencies {
  std::vector<double> values;
  double Quantile(double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1,
                           static_cast<size_t>(q * values.size()))];
  }
};

// How reports reach the aggregator: the Engine's calls, or a stream.
class Transport {
 public:
  virtual ~Transport() = default;
  // Hello; false on failure.
  virtual bool Hello(Agent& agent) = 0;
  virtual bool Events(Agent& agent, const v1::AddressEventBatch& batch) = 0;
  // Sends the snapshot and hands the ack to the agent.
  virtual bool Snapshot(Agent& agent, v1::SocketSnapshot snapshot) = 0;
  // CPU seconds spent inside the aggregator's calls (in process only).
  virtual double IngestCpuSeconds() const { return 0; }
};

// Agent n reports to engines[n % engines.size()].
class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(std::vector<Engine*> engines)
      : engines_(std::move(engines)) {}
  bool Hello(Agent& agent) override {
    return EngineOf(agent).Hello(agent.Hello()).ok();
  }
  bool Events(Agent& agent, const v1::AddressEventBatch& batch) override {
    const double cpu = ThreadCpuSeconds();
    const absl::StatusOr<uint64_t> acked = EngineOf(agent).IngestAddressEvents(
        agent.name(), agent.instance(), batch);
    const bool ok = acked.ok();
    if (!ok) {
      std::fprintf(stderr, "%s: %s\n", agent.name().c_str(),
                   acked.status().ToString().c_str());
    }
    AddCpu(ThreadCpuSeconds() - cpu);
    return ok;
  }
  bool Snapshot(Agent& agent, v1::SocketSnapshot snapshot) override {
    const double cpu = ThreadCpuSeconds();
    absl::StatusOr<v1::Ack> ack = EngineOf(agent).IngestSnapshot(
        agent.name(), agent.instance(), std::move(snapshot), absl::Now());
    AddCpu(ThreadCpuSeconds() - cpu);
    if (!ack.ok()) {
      std::fprintf(stderr, "%s: %s\n", agent.name().c_str(),
                   ack.status().ToString().c_str());
      return false;
    }
    agent.OnAck(*ack);
    return true;
  }
  double IngestCpuSeconds() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return cpu_;
  }

 private:
  void AddCpu(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    cpu_ += seconds;
  }
  Engine& EngineOf(const Agent& agent) const {
    return *engines_[agent.node() % engines_.size()];
  }
  const std::vector<Engine*> engines_;
  mutable std::mutex mu_;
  double cpu_ = 0;
};

// One Report stream per agent over loopback; `channels` connections.
class GrpcTransport final : public Transport {
 public:
  GrpcTransport(int port, int nodes, int channels) {
    for (int c = 0; c < channels; ++c) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(64 << 20);
      // Distinct channels: a connection each, not one shared subchannel.
      args.SetInt("grpc.channel_id", c);
      stubs_.push_back(v1::Ingest::NewStub(
          grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                    grpc::InsecureChannelCredentials(), args)));
    }
    streams_.resize(nodes);
  }
  ~GrpcTransport() override {
    for (Stream& s : streams_) {
      if (s.stream == nullptr) continue;
      s.stream->WritesDone();
      (void)s.stream->Finish();
    }
  }

  bool Hello(Agent& agent) override {
    Stream& s = streams_[agent.node()];
    s.context = std::make_unique<grpc::ClientContext>();
    s.stream = stubs_[agent.node() % stubs_.size()]->Report(s.context.get());
    v1::AgentMessage message;
    *message.mutable_hello() = agent.Hello();
    v1::AggregatorMessage reply;
    return s.stream->Write(message) && s.stream->Read(&reply);
  }
  bool Events(Agent& agent, const v1::AddressEventBatch& batch) override {
    v1::AgentMessage message;
    *message.mutable_address_events() = batch;
    v1::AggregatorMessage reply;
    return Exchange(agent, message, &reply);
  }
  bool Snapshot(Agent& agent, v1::SocketSnapshot snapshot) override {
    v1::AgentMessage message;
    *message.mutable_socket_snapshot() = std::move(snapshot);
    v1::AggregatorMessage reply;
    if (!Exchange(agent, message, &reply)) return false;
    agent.OnAck(reply.ack());
    return true;
  }

 private:
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<
        grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>>
        stream;
  };
  bool Exchange(Agent& agent, const v1::AgentMessage& message,
                v1::AggregatorMessage* reply) {
    Stream& s = streams_[agent.node()];
    if (!s.stream->Write(message)) return false;
    // Only acks come back here (no remediation in this bench).
    return s.stream->Read(reply) && reply->has_ack();
  }
  std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs_;
  std::vector<Stream> streams_;
};

struct Memory {
  double view_heap_per_socket = 0;
  double detector_heap_per_socket = 0;
  double engine_heap_per_socket = 0;
  double held_per_socket = 0;
  double reference_heap_per_socket = 0;
  int reference_nodes = 0;
};

// The old representation's cost: full snapshots kept as messages, with a
// fingerprint vector and set per node (socket_state before issue 12).
double ReferenceHeapPerSocket(const Cluster& cluster, int nodes) {
  if (nodes == 0) return 0;
  struct Kept {
    v1::SocketSnapshot snapshot;
    absl::flat_hash_set<uint64_t> keys;
    std::vector<uint64_t> fingerprints;
  };
  std::vector<Kept> kept(nodes);
  const size_t before = HeapInUse();
  for (int node = 0; node < nodes; ++node) {
    Agent agent(&cluster, node, node, /*aligned_fulls=*/false);
    Kept& k = kept[node];
    k.snapshot = agent.NextSnapshot(absl::Now());
    for (const v1::SocketRecord& r : k.snapshot.snapshot().sockets()) {
      const uint64_t f = SocketFingerprint(SocketKeyView::Of(r));
      k.keys.insert(f);
      k.fingerprints.push_back(f);
    }
  }
  const size_t after = HeapInUse();
  return static_cast<double>(after - before) /
         (static_cast<double>(nodes) * cluster.sockets());
}

int Run(const BenchOptions& options) {
  const std::string dir = absl::StrCat(options.dir, "/scale_bench.", getpid());
  std::filesystem::create_directories(dir);
  EngineOptions engine_options;
  engine_options.db_path = dir + "/ghostpeer.db";
  // Every simulated node reports; none goes stale during the run.
  engine_options.node_stale_after = absl::Hours(1);
  engine_options.ingest_limits.max_nodes =
      std::max<size_t>(engine_options.ingest_limits.max_nodes,
                       static_cast<size_t>(options.nodes));
  // Several replicas share a private PostgreSQL server (durable, as in
  // production); one aggregator keeps its SQLite file in `dir`.
  std::unique_ptr<testing::PostgresCluster> postgres;
  if (options.replicas > 1) {
    if (options.mode != "inprocess") {
      std::fprintf(stderr, "--replicas needs --mode=inprocess\n");
      return 2;
    }
    absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> created =
        testing::PostgresCluster::Create(/*durable=*/true);
    absl::StatusOr<std::string> uri =
        created.ok() ? (*created)->CreateDatabase("scale_bench")
                     : absl::StatusOr<std::string>(created.status());
    if (!uri.ok()) {
      std::fprintf(stderr, "postgresql: %s\n", uri.status().ToString().c_str());
      return 1;
    }
    postgres = *std::move(created);
    engine_options.db_path = *uri;
  }
  std::vector<std::unique_ptr<Engine>> engines;
  for (int r = 0; r < options.replicas; ++r) {
    EngineOptions replica_options = engine_options;
    replica_options.replica_name = absl::StrCat("bench-r", r);
    absl::StatusOr<std::unique_ptr<Engine>> opened =
        Engine::Open(replica_options);
    if (!opened.ok()) {
      std::fprintf(stderr, "engine: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    engines.push_back(*std::move(opened));
  }
  Engine* const engine = engines.front().get();
  std::vector<Engine*> engine_ptrs;
  for (const auto& e : engines) engine_ptrs.push_back(e.get());
  // What the replicas ingested together.
  auto counters = [&engines] {
    EngineCounters sum;
    for (const auto& e : engines) {
      const EngineCounters c = e->Counters();
      sum.socket_records_ingested += c.socket_records_ingested;
      sum.full_snapshots += c.full_snapshots;
      sum.delta_snapshots += c.delta_snapshots;
      sum.socket_bytes_held += c.socket_bytes_held;
    }
    return sum;
  };
  // Replicas take in each other's writes every second, as main's
  // --replica-poll-interval does.
  // Joined on every way out (declared after `engines`: destroyed first).
  struct CatchUpThread {
    std::atomic<bool> stop{false};
    std::thread thread;
    void Join() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
    ~CatchUpThread() { Join(); }
  } catch_up;
  if (engines.size() > 1) {
    catch_up.thread = std::thread([&] {
      while (!catch_up.stop) {
        for (const auto& e : engines) {
          const absl::Status caught_up = e->CatchUp();
          if (!caught_up.ok()) {
            std::fprintf(stderr, "catch-up: %s\n",
                         caught_up.ToString().c_str());
          }
        }
        for (int i = 0; i < 10 && !catch_up.stop; ++i) {
          absl::SleepFor(absl::Milliseconds(100));
        }
      }
    });
  }
  std::unique_ptr<AggregatorServer> server;
  std::unique_ptr<Transport> transport;
  if (options.mode == "grpc") {
    ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<AggregatorServer>> started =
        AggregatorServer::Start(server_options, engine);
    if (!started.ok()) {
      std::fprintf(stderr, "server: %s\n", started.status().ToString().c_str());
      return 1;
    }
    server = *std::move(started);
    transport = std::make_unique<GrpcTransport>(server->port(), options.nodes,
                                                options.threads);
  } else {
    transport = std::make_unique<InProcessTransport>(engine_ptrs);
  }

  // First findings about each dead server's address, by the engine's clock.
  absl::Mutex found_mu;
  absl::flat_hash_map<std::string, absl::Time> first_found;
  for (Engine* e : engine_ptrs) {
    e->Subscribe([&](const v1::FindingEvent& event) {
      if (event.type() != v1::OPENED) return;
      absl::MutexLock lock(&found_mu);
      first_found.try_emplace(event.finding().socket().remote_ip(),
                              absl::Now());
    });
  }

  Cluster cluster(options.nodes, options.sockets);
  std::vector<std::unique_ptr<Agent>> agents;
  for (int node = 0; node < options.nodes; ++node) {
    agents.push_back(
        std::make_unique<Agent>(&cluster, node, node, options.aligned_fulls));
  }
  std::printf(
      "scale_bench: %s, %d nodes x %d sockets (%.1f million), "
      "interval %s, %d threads, full snapshots %s\n",
      options.mode == "grpc"
          ? "loopback gRPC (AggregatorServer, a stream per agent)"
      : options.replicas > 1 ? "in process (Engine calls), replicas on "
                               "one PostgreSQL"
                             : "in process (Engine calls)",
      options.nodes, options.sockets,
      options.nodes * static_cast<double>(options.sockets) / 1e6,
      absl::FormatDuration(options.interval).c_str(), options.threads,
      options.aligned_fulls ? "aligned" : "staggered");

  // 1. Hello, then every node's first full snapshot before any address is
  //    known: the detector keeps nothing for sockets to unknown addresses,
  //    so the heap this takes is the socket view's. Then the address
  //    events and a second full snapshot each: what the heap gains is the
  //    detector's memory of the connections it now judges.
  const absl::Time setup_start = absl::Now();
  for (auto& agent : agents) {
    if (!transport->Hello(*agent)) {
      std::fprintf(stderr, "hello failed for %s\n", agent->name().c_str());
      return 1;
    }
  }
  const double live = options.nodes * static_cast<double>(options.sockets);
  Memory memory;
  auto full_round = [&] {
    for (auto& agent : agents) {
      agent->RequireFull();
      if (!transport->Snapshot(*agent, agent->NextSnapshot(absl::Now()))) {
        return false;
      }
    }
    return true;
  };
  const size_t heap_start = HeapInUse();
  if (!full_round()) return 1;
  const size_t heap_view = HeapInUse();
  memory.view_heap_per_socket =
      static_cast<double>(heap_view - heap_start) / live;
  memory.held_per_socket =
      static_cast<double>(counters().socket_bytes_held) / live;
  for (auto& agent : agents) {
    if (!transport->Events(*agent, agent->FirstEvents(absl::Now()))) {
      std::fprintf(stderr, "events failed for %s\n", agent->name().c_str());
      return 1;
    }
  }
  const size_t heap_events = HeapInUse();
  if (!full_round()) return 1;
  memory.detector_heap_per_socket =
      static_cast<double>(HeapInUse() - heap_events) / live;
  memory.engine_heap_per_socket =
      static_cast<double>(HeapInUse() - heap_start) / live;
  std::printf("setup: %.1f s (hello, events, first full snapshots)\n",
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  // 2. The timed run: report k of node n is due at start + k * interval +
  //    n * interval / nodes. Threads take the next due report in order.
  const EngineCounters counters_before = counters();
  const double cpu_before = ProcessCpuSeconds();
  const double ingest_cpu_before = transport->IngestCpuSeconds();
  const absl::Time start = absl::Now() + absl::Milliseconds(100);
  const int64_t rounds =
      std::max<int64_t>(1, options.run_for / options.interval);
  const int64_t total = rounds * options.nodes;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::mutex> node_mu(options.nodes);
  std::mutex latency_mu;
  Latencies acks;
  struct Ghost {
    std::string address;
    absl::Time acked;
  };
  std::vector<Ghost> ghosts;
  std::mutex ghost_mu;
  absl::Time next_ghost = start + options.ghost_every / 2;
  int ghost_count = 0;
  auto work = [&] {
    std::uniform_real_distribution<double> coin(0, 1);
    std::mt19937_64 rng(
        std::hash<std::thread::id>()(std::this_thread::get_id()));
    Latencies local;
    for (int64_t j = next++; j < total && !failed; j = next++) {
      const int node = static_cast<int>(j % options.nodes);
      const int64_t round = j / options.nodes;
      const absl::Time due = start + round * options.interval +
                             options.interval * node / options.nodes;
      const absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
      std::lock_guard<std::mutex> node_lock(node_mu[node]);
      Agent& agent = *agents[node];
      // A server of this node dies now and then: its clients' agents see
      // it at their next snapshot.
      std::optional<int> dying;
      {
        std::lock_guard<std::mutex> lock(ghost_mu);
        if (absl::Now() >= next_ghost) {
          next_ghost += options.ghost_every;
          dying = ghost_count++ % kServersPerNode;
        }
      }
      if (dying.has_value()) {
        const absl::Time at = absl::Now();
        if (!transport->Events(agent, agent.Death(*dying, at))) failed = true;
        const absl::Time acked = absl::Now();
        cluster.Kill(node, *dying, at);
        // The clients of that server live on nodes node-1-k: their next
        // snapshots carry the change.
        for (int k = 0; k * kServersPerNode < options.sockets; ++k) {
          const int client =
              ((node - 1 - k) % options.nodes + options.nodes) % options.nodes;
          std::unique_lock<std::mutex> client_lock(node_mu[client],
                                                   std::defer_lock);
          if (client != node) client_lock.lock();
          agents[client]->PeerDied(node, *dying);
        }
        std::lock_guard<std::mutex> lock(ghost_mu);
        ghosts.push_back({ServerAddress(node, *dying), acked});
      }
      if (coin(rng) < options.address_churn) {
        if (!transport->Events(agent, agent.Churn(absl::Now()))) failed = true;
      }
      agent.Advance(options.change, options.socket_churn);
      if (!transport->Snapshot(agent, agent.NextSnapshot(absl::Now()))) {
        failed = true;
      }
      local.values.push_back(absl::ToDoubleSeconds(absl::Now() - due));
    }
    std::lock_guard<std::mutex> lock(latency_mu);
    acks.values.insert(acks.values.end(), local.values.begin(),
                       local.values.end());
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  const absl::Duration wall = absl::Now() - start;
  const double cpu = ProcessCpuSeconds() - cpu_before;
  const double ingest_cpu = transport->IngestCpuSeconds() - ingest_cpu_before;
  const EngineCounters counters_after = counters();
  catch_up.Join();
  if (failed) {
    std::fprintf(stderr, "a report failed\n");
    return 1;
  }

  // An address-event burst (issue 12: 10,000 events stored and
  // acknowledged within 2 s): one batch from the first agent, the load
  // over.
  constexpr int kBurstEvents = 10000;
  const absl::Time burst_start = absl::Now();
  const bool burst_ok = transport->Events(
      *agents.front(), agents.front()->Burst(kBurstEvents, burst_start));
  const absl::Duration burst = absl::Now() - burst_start;

  // 3. Detection latency: each dead server's DETACH ack to its first
  //    finding (none yet: not detected within the run).
  Latencies detection;
  int undetected = 0;
  {
    absl::MutexLock lock(&found_mu);
    for (const Ghost& g : ghosts) {
      auto it = first_found.find(g.address);
      if (it == first_found.end()) {
        ++undetected;
      } else {
        detection.values.push_back(absl::ToDoubleSeconds(it->second - g.acked));
      }
    }
  }

  const double records =
      static_cast<double>(counters_after.socket_records_ingested -
                          counters_before.socket_records_ingested);
  const double snapshots = static_cast<double>(
      counters_after.full_snapshots + counters_after.delta_snapshots -
      counters_before.full_snapshots - counters_before.delta_snapshots);
  const double seconds = absl::ToDoubleSeconds(wall);
  std::printf(
      "run: %.1f s, %.0f snapshots (%.0f/s), %.0f socket records "
      "(%.0f records/s), %.1f million node sockets brought up to "
      "date/s\n",
      seconds, snapshots, snapshots / seconds, records, records / seconds,
      snapshots * options.sockets / seconds / 1e6);
  std::printf("cpu: %.2f cores busy; %.2f us per record (whole process%s)",
              cpu / seconds, 1e6 * cpu / records,
              options.mode == "grpc" ? ", agents and gRPC included" : "");
  if (options.mode == "inprocess") {
    std::printf("; %.2f us per record in the Engine's calls",
                1e6 * ingest_cpu / records);
  }
  std::printf("\n");
  std::printf(
      "ack latency (due to acknowledged): p50 %.1f ms, p99 %.1f ms, "
      "max %.1f ms over %zu reports\n",
      1e3 * acks.Quantile(0.5), 1e3 * acks.Quantile(0.99),
      1e3 * acks.Quantile(1.0), acks.values.size());
  std::printf(
      "detection latency (server's death acked to first finding): "
      "p50 %.1f s, max %.1f s over %zu ghosts, %d not found in the "
      "run\n",
      detection.Quantile(0.5), detection.Quantile(1.0), detection.values.size(),
      undetected);

  if (burst_ok) {
    std::printf(
        "address-event burst: %d events in one batch stored and "
        "acknowledged in %.0f ms (%s)\n",
        kBurstEvents, absl::ToDoubleMilliseconds(burst),
        options.replicas > 1 ? "PostgreSQL" : "SQLite");
  } else {
    std::printf("address-event burst: refused (above)\n");
  }

  // 4. The reference: the same sockets as main kept them.
  memory.reference_nodes = std::min(options.nodes, options.reference_nodes);
  memory.reference_heap_per_socket =
      ReferenceHeapPerSocket(cluster, memory.reference_nodes);
  std::printf(
      "memory per live socket (mallinfo2 uordblks+hblkhd gained): socket "
      "view %.0f B (held_bytes %.0f B), detector memory %.0f B, "
      "Engine total %.0f B (address history included)\n",
      memory.view_heap_per_socket, memory.held_per_socket,
      memory.detector_heap_per_socket, memory.engine_heap_per_socket);
  if (memory.reference_nodes > 0) {
    std::printf(
        "reference, same run: the socket view as kept before issue "
        "12 (protobuf messages, fingerprints; %d nodes) %.0f B per "
        "socket: %.1fx the compact view\n",
        memory.reference_nodes, memory.reference_heap_per_socket,
        memory.reference_heap_per_socket /
            std::max(1.0, memory.view_heap_per_socket));
  }
  if (server != nullptr) {
    transport.reset();
    server->Shutdown(absl::Seconds(1));
  }
  catch_up.Join();
  engines.clear();
  postgres.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace ghostpeer::aggregator

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows in a log too
  ghostpeer::aggregator::BenchOptions options;
  for (int i = 1; i < argc; ++i) {
    if (!ghostpeer::aggregator::ParseFlag(argv[i], &options)) {
      std::fprintf(stderr, "scale_bench: bad flag %s (see the source)\n",
                   argv[i]);
      return 2;
    }
  }
  // Streams opening and closing by the hundred: warnings and errors only.
  ghostpeer::LoggingOptions logging;
  logging.level = "warn";
  if (!ghostpeer::InitLogging(logging).ok()) return 1;
  return ghostpeer::aggregator::Run(options);
}
