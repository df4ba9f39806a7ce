// N simulated agents streaming socket snapshots of M sockets into one
// in-process Engine: records ingested per second and detection time per
// snapshot, for full snapshots and for deltas.
//
// The simulated cluster: every node hosts 20 server containers (addresses
// held in the history) and client sockets to servers anywhere in the
// cluster; one socket in a thousand talks to a server that vanished, so
// findings open and stay open as in a real incident. Snapshot copies are
// made with the timer paused: the gRPC layer hands the Engine a parsed
// message it can move.
//
//   aggregator_bench --benchmark_counters_tabular=true
//
// Reading the output: items_per_second = socket records ingested per second
// (a delta counts only the records it carries); node_sockets_per_second =
// sockets whose state was brought up to date per second (for a delta, the
// whole node); detect_ms = detector time per snapshot.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aggregator/engine.h"
#include "benchmark/benchmark.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

constexpr int kServersPerNode = 20;
constexpr int kVanishedPerMille = 1;

std::string NodeName(int node) { return absl::StrCat("node-", node); }
std::string ServerAddress(int node, int server) {
  return absl::StrCat("10.", 1 + node / 250, ".", node % 250, ".", 10 + server);
}
std::string ClientAddress(int node) {
  return absl::StrCat("10.", 1 + node / 250, ".", node % 250, ".", 200);
}

v1::AddressOwner ServerOwner(int node, int server) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_address(ServerAddress(node, server));
  owner.set_container_id(absl::StrCat("c", node, "x", server));
  owner.set_container_name(absl::StrCat("srv", server, ".", node));
  owner.set_service(absl::StrCat("srv", server));
  owner.set_node(NodeName(node));
  owner.set_netns_inode(4026530000 + server);
  owner.set_network("eth0");
  return owner;
}

v1::SocketRecord ClientSocket(int node, int i, int nodes, std::mt19937* rng) {
  v1::SocketRecord s;
  s.set_node(NodeName(node));
  s.set_netns_inode(4026540000 + i % 50);
  s.set_local_ip(ClientAddress(node));
  s.set_local_port(10000 + i % 50000);
  const int peer_node = static_cast<int>((*rng)() % nodes);
  const int peer_server = static_cast<int>((*rng)() % kServersPerNode);
  s.set_remote_ip(ServerAddress(peer_node, peer_server));
  s.set_remote_port(27017);
  s.set_state(v1::TCP_STATE_ESTABLISHED);
  s.set_inode(900000 + i);
  s.set_pid(400 + i % 100);
  s.set_comm("client");
  s.set_container_id(absl::StrCat("client", node, "x", i % 50));
  s.set_container_name(absl::StrCat("cli", i % 50, ".", node));
  s.set_service(absl::StrCat("cli", i % 50));
  s.set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
  v1::TcpInfo* info = s.mutable_tcp_info();
  info->set_bytes_acked(100000 + i);
  info->set_bytes_sent(100000 + i);
  info->set_last_ack_recv_ms(200);
  info->set_last_data_recv_ms(200);
  info->set_rto_us(204000);
  info->set_snd_cwnd(10);
  if (i % 1000 < kVanishedPerMille) {
    // The vanished server: node 0's server 0 is detached at setup.
    s.set_remote_ip(ServerAddress(0, 0));
    s.set_send_queue(720);
    info->set_unacked(1);
    info->set_backoff(4);
    info->set_last_ack_recv_ms(60000);
    info->set_last_data_recv_ms(60000);
  }
  return s;
}

// One engine and the snapshots of every node, built once per (nodes,
// sockets) and shared by the benchmarks that use that shape.
struct Cluster {
  std::unique_ptr<Engine> engine;
  std::vector<v1::SocketSnapshot> full;  // per node, ids set per ingest
  int nodes = 0;
  int sockets = 0;
  std::vector<uint64_t> next_id;  // per node
  std::vector<uint64_t> base_id;  // per node: the full snapshot deltas use
  // Resident memory the Engine gained holding every node's sockets (base
  // snapshots, fingerprints, detector memory), per socket.
  double engine_bytes_per_socket = 0;
};

// Resident set size of this process, from /proc/self/statm.
double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

// Nodes are split between benchmark threads (thread t owns t, t+T, ...), so
// no two threads ingest for one node at once, as with real agents.
class NodeCursor {
 public:
  NodeCursor(const benchmark::State& state, int nodes)
      : first_(state.thread_index()),
        step_(state.threads()),
        count_(std::max(1, nodes / state.threads())) {}
  int node() const { return first_ + step_ * k_; }
  void Next() { k_ = (k_ + 1) % count_; }

 private:
  const int first_, step_, count_;
  int k_ = 0;
};

Cluster& GetCluster(int nodes, int sockets) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::unique_ptr<Cluster>> clusters;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = clusters[{nodes, sockets}];
  if (slot != nullptr) return *slot;
  slot = std::make_unique<Cluster>();
  Cluster& c = *slot;
  c.nodes = nodes;
  c.sockets = sockets;
  EngineOptions options;
  options.db_path = ":memory:";
  c.engine = *Engine::Open(options);
  const absl::Time now = absl::Now();
  for (int node = 0; node < nodes; ++node) {
    v1::AddressEventBatch batch;
    uint64_t seq = 0;
    for (int server = 0; server < kServersPerNode; ++server) {
      v1::AddressEvent* e = batch.add_events();
      e->set_seq(++seq);
      e->set_type(v1::ATTACH);
      e->set_source(v1::OBSERVATION);
      *e->mutable_time() = ToProto(now - absl::Minutes(10));
      *e->mutable_owner() = ServerOwner(node, server);
    }
    if (node == 0) {
      v1::AddressEvent* e = batch.add_events();
      e->set_seq(++seq);
      e->set_type(v1::DETACH);
      e->set_source(v1::OBSERVATION);
      *e->mutable_time() = ToProto(now - absl::Minutes(5));
      *e->mutable_owner() = ServerOwner(0, 0);
    }
    if (!c.engine->IngestAddressEvents(NodeName(node), "bench", batch).ok()) {
      std::abort();
    }
  }
  std::mt19937 rng(42);
  c.full.resize(nodes);
  c.next_id.assign(nodes, 1);
  c.base_id.assign(nodes, 1);
  for (int node = 0; node < nodes; ++node) {
    v1::SocketSnapshot& snapshot = c.full[node];
    snapshot.set_full(true);
    v1::NodeSnapshot* body = snapshot.mutable_snapshot();
    body->set_node(NodeName(node));
    body->set_agent_version("bench");
    for (int ns = 0; ns < 50; ++ns) {
      v1::NamespaceInfo* info = body->add_namespaces();
      info->set_inode(4026540000 + ns);
      info->set_status(v1::NAMESPACE_STATUS_OK);
      info->add_addresses()->set_address(ClientAddress(node));
    }
    for (int i = 0; i < sockets; ++i) {
      *body->add_sockets() = ClientSocket(node, i, nodes, &rng);
    }
  }
  // The first full snapshot of every node, the base deltas refer to: copies
  // moved into the Engine, so the memory they take is the Engine's.
  const double before = ResidentBytes();
  std::vector<v1::SocketSnapshot> firsts = c.full;
  for (int node = 0; node < nodes; ++node) {
    v1::SocketSnapshot first = std::move(firsts[node]);
    first.set_snapshot_id(c.next_id[node]++);
    *first.mutable_snapshot()->mutable_taken_at() = ToProto(absl::Now());
    if (!c.engine
             ->IngestSnapshot(NodeName(node), "bench", std::move(first),
                              absl::Now())
             .ok()) {
      std::abort();
    }
  }
  firsts.clear();
  c.engine_bytes_per_socket =
      (ResidentBytes() - before) / (static_cast<double>(nodes) * sockets);
  return c;
}

void ReportDetection(benchmark::State& state, const EngineCounters& before,
                     const EngineCounters& after) {
  const double snapshots = static_cast<double>(after.detection_latency.count -
                                               before.detection_latency.count);
  if (snapshots > 0) {
    state.counters["detect_ms"] = 1000 *
                                  (after.detection_latency.sum_seconds -
                                   before.detection_latency.sum_seconds) /
                                  snapshots;
    state.counters["ingest_ms"] =
        1000 *
        (after.ingest_latency.sum_seconds - before.ingest_latency.sum_seconds) /
        snapshots;
  }
}

// Full snapshots, round-robin over the nodes (each thread its own nodes).
void BM_FullSnapshots(benchmark::State& state) {
  Cluster& c = GetCluster(state.range(0), state.range(1));
  const EngineCounters before = c.engine->Counters();
  NodeCursor cursor(state, c.nodes);
  int64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const int node = cursor.node();
    v1::SocketSnapshot snapshot = c.full[node];
    snapshot.set_snapshot_id(c.next_id[node]++);
    c.base_id[node] = snapshot.snapshot_id();
    *snapshot.mutable_snapshot()->mutable_taken_at() = ToProto(absl::Now());
    state.ResumeTiming();
    auto ack = c.engine->IngestSnapshot(NodeName(node), "bench",
                                        std::move(snapshot), absl::Now());
    if (!ack.ok()) state.SkipWithError("ingest failed");
    records += c.sockets;
    cursor.Next();
  }
  state.SetItemsProcessed(records);
  state.counters["node_sockets_per_second"] = benchmark::Counter(
      static_cast<double>(records), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    ReportDetection(state, before, c.engine->Counters());
    state.counters["engine_B_per_socket"] = c.engine_bytes_per_socket;
  }
}

// Deltas against each node's base: `changed` per mille of the sockets
// changed (their queues moved), the rest re-aged from the base.
void BM_DeltaSnapshots(benchmark::State& state) {
  Cluster& c = GetCluster(state.range(0), state.range(1));
  const int per_mille = static_cast<int>(state.range(2));
  const EngineCounters before = c.engine->Counters();
  NodeCursor cursor(state, c.nodes);
  int64_t carried = 0, refreshed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const int node = cursor.node();
    const v1::SocketSnapshot& base = c.full[node];
    v1::SocketSnapshot delta;
    delta.set_snapshot_id(c.next_id[node]++);
    delta.set_full(false);
    delta.set_base_snapshot_id(c.base_id[node]);
    v1::NodeSnapshot* body = delta.mutable_snapshot();
    body->set_node(base.snapshot().node());
    *body->mutable_namespaces() = base.snapshot().namespaces();
    *body->mutable_taken_at() = ToProto(absl::Now());
    const int changed = c.sockets * per_mille / 1000;
    for (int i = 0; i < changed; ++i) {
      v1::SocketRecord* s = body->add_sockets();
      *s = base.snapshot().sockets((i * 997) % c.sockets);
      s->set_send_queue(s->send_queue() + 100);
    }
    state.ResumeTiming();
    auto ack = c.engine->IngestSnapshot(NodeName(node), "bench",
                                        std::move(delta), absl::Now());
    if (!ack.ok() || ack->full_snapshot_required()) {
      state.SkipWithError("delta refused");
    }
    carried += changed;
    refreshed += c.sockets;
    cursor.Next();
  }
  state.SetItemsProcessed(carried);
  state.counters["node_sockets_per_second"] = benchmark::Counter(
      static_cast<double>(refreshed), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    ReportDetection(state, before, c.engine->Counters());
  }
}

// Reference, same run: copying one node's full snapshot — what the const&
// IngestSnapshot overload costs on top of the rvalue one, and roughly what
// parsing it off the wire costs the gRPC layer before the Engine sees it.
void BM_CopySnapshot(benchmark::State& state) {
  Cluster& c = GetCluster(state.range(0), state.range(1));
  for (auto _ : state) {
    v1::SocketSnapshot copy = c.full[0];
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations() * c.sockets);
}
BENCHMARK(BM_CopySnapshot)->Args({50, 10000})->Unit(benchmark::kMillisecond);

// One thread: rates per CPU second of the ingesting thread (the machine is
// shared; wall time would measure the neighbours). Two threads: wall time,
// both cores ingesting different nodes.
BENCHMARK(BM_FullSnapshots)
    ->Args({50, 10000})
    ->Args({500, 1000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FullSnapshots)
    ->Args({50, 10000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Threads(2);
BENCHMARK(BM_DeltaSnapshots)
    ->Args({50, 10000, 50})
    ->Args({50, 10000, 5})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DeltaSnapshots)
    ->Args({50, 10000, 50})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Threads(2);

}  // namespace
}  // namespace ghostpeer::aggregator

BENCHMARK_MAIN();
