// Ingest latency while alert delivery fails: the real Engine on a database
// file and the real Alerting (libcurl) delivering to a webhook that refuses
// every connection (a loopback port bound and never listened on), while
// simulated agents ingest snapshots and address-event batches at a steady
// rate. Prints p50/p99/max of each ingest call, and their ratio to the
// reference measured in the same run: the same load with no webhook at all.
//
// What it exercises: every snapshot replaces a few of each node's ghost
// connections (to addresses whose owner left), so findings keep opening and
// resolving and the dispatcher keeps enqueueing notifications; every one of
// them fails and is rescheduled. Those delivery-state writes share the disk
// (and, before issue 8, the database file) with the Engine's history and
// findings writes.
//
//   alert_stall_bench [--seconds=30] [--nodes=4] [--sockets=2000]
//                     [--snapshot-interval=100ms] [--batch-interval=50ms]
//                     [--ghosts=50] [--churn=5] [--retry-initial=1s]
//                     [--rounds=2] [--dir=/tmp]
//
// --retry-initial is the first retry delay of a failed delivery (1s in
// production); a short one (10ms) makes the dispatcher write as fast as the
// webhook fails, the worst case. Each round runs the load twice, --seconds
// each, on a fresh database: first with no sink (the reference: what the
// machine gives without any delivery write), then with the refusing
// webhook. Alternating rounds spread the machine's drift over both.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/engine.h"
#include "common/logging.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

struct BenchOptions {
  absl::Duration run_for = absl::Seconds(30);
  int nodes = 4;
  int sockets = 2000;  // healthy sockets per node
  absl::Duration snapshot_interval = absl::Milliseconds(100);  // per node
  absl::Duration batch_interval = absl::Milliseconds(50);
  int ghosts = 50;  // ghost connections per node at any time
  int churn = 5;    // ghosts replaced per snapshot
  absl::Duration retry_initial = absl::Seconds(1);
  int rounds = 2;
  std::string dir = "/tmp";
};

bool ParseFlag(const std::string& arg, BenchOptions* options) {
  std::vector<std::string> parts = absl::StrSplit(arg, absl::MaxSplits('=', 1));
  if (parts.size() != 2) return false;
  const std::string& name = parts[0];
  const std::string& value = parts[1];
  int seconds = 0;
  if (name == "--seconds") {
    if (!absl::SimpleAtoi(value, &seconds) || seconds <= 0) return false;
    options->run_for = absl::Seconds(seconds);
    return true;
  }
  if (name == "--nodes") return absl::SimpleAtoi(value, &options->nodes);
  if (name == "--sockets") return absl::SimpleAtoi(value, &options->sockets);
  if (name == "--ghosts") return absl::SimpleAtoi(value, &options->ghosts);
  if (name == "--churn") return absl::SimpleAtoi(value, &options->churn);
  if (name == "--rounds") {
    return absl::SimpleAtoi(value, &options->rounds) && options->rounds > 0;
  }
  if (name == "--dir") {
    options->dir = value;
    return true;
  }
  if (name == "--snapshot-interval") {
    return absl::ParseDuration(value, &options->snapshot_interval);
  }
  if (name == "--batch-interval") {
    return absl::ParseDuration(value, &options->batch_interval);
  }
  if (name == "--retry-initial") {
    return absl::ParseDuration(value, &options->retry_initial);
  }
  return false;
}

// Latencies of one kind of call, from many threads.
class Latencies {
 public:
  void Add(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    samples_.push_back(d);
  }
  struct Summary {
    size_t calls = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
  };
  Summary Summarize() {
    std::lock_guard<std::mutex> lock(mu_);
    Summary summary;
    summary.calls = samples_.size();
    if (samples_.empty()) return summary;
    std::sort(samples_.begin(), samples_.end());
    auto at = [&](double q) {
      const size_t i = std::min(samples_.size() - 1,
                                static_cast<size_t>(q * samples_.size()));
      return absl::ToDoubleMilliseconds(samples_[i]);
    };
    summary.p50_ms = at(0.50);
    summary.p99_ms = at(0.99);
    summary.max_ms = absl::ToDoubleMilliseconds(samples_.back());
    return summary;
  }

 private:
  std::mutex mu_;
  std::vector<absl::Duration> samples_;
};

std::string NodeName(int node) { return absl::StrCat("node-", node); }
std::string ClientAddress(int node) {
  return absl::StrCat("10.1.", node, ".200");
}
// Addresses held once and left: what ghost connections point at.
constexpr int kVanished = 64;
std::string VanishedAddress(int i) { return absl::StrCat("10.9.0.", 10 + i); }

v1::AddressOwner VanishedOwner(int i) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_address(VanishedAddress(i));
  owner.set_container_id(absl::StrCat("gone", i));
  owner.set_container_name(absl::StrCat("srv.", i));
  owner.set_service("srv");
  owner.set_node("node-srv");
  owner.set_netns_inode(4026530000 + i);
  owner.set_network("eth0");
  return owner;
}

v1::SocketRecord Socket(int node, int port, const std::string& remote) {
  v1::SocketRecord s;
  s.set_node(NodeName(node));
  s.set_netns_inode(4026540000);
  s.set_local_ip(ClientAddress(node));
  s.set_local_port(port);
  s.set_remote_ip(remote);
  s.set_remote_port(27017);
  s.set_state(v1::TCP_STATE_ESTABLISHED);
  s.set_inode(100000 + port);
  s.set_pid(400);
  s.set_comm("client");
  s.set_container_id(absl::StrCat("client", node));
  s.set_container_name(absl::StrCat("cli.", node));
  s.set_service("cli");
  s.set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
  v1::TcpInfo* info = s.mutable_tcp_info();
  info->set_bytes_acked(100000);
  info->set_bytes_sent(100000);
  info->set_last_ack_recv_ms(200);
  info->set_last_data_recv_ms(200);
  info->set_rto_us(204000);
  info->set_snd_cwnd(10);
  return s;
}

// A connection stuck writing to an address whose owner left: last heard
// while the owner still held it, data waiting.
v1::SocketRecord Ghost(int node, int port) {
  v1::SocketRecord s = Socket(node, port, VanishedAddress(port % kVanished));
  s.set_send_queue(720);
  v1::TcpInfo* info = s.mutable_tcp_info();
  info->set_unacked(1);
  info->set_backoff(4);
  info->set_last_ack_recv_ms(600000);
  info->set_last_data_recv_ms(600000);
  return s;
}

v1::AddressEvent Event(uint64_t seq, v1::AddressEventType type,
                       const v1::AddressOwner& owner, absl::Time at) {
  v1::AddressEvent e;
  e.set_seq(seq);
  e.set_type(type);
  e.set_source(v1::OBSERVATION);
  *e.mutable_time() = ToProto(at);
  *e.mutable_owner() = owner;
  return e;
}

// A loopback port bound and never listened on: every connection to it is
// refused at once, and nobody else can take it while we hold it.
int RefusingPort(int* fd) {
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (*fd < 0 || bind(*fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("bind a loopback port");
    std::exit(1);
  }
  return ntohs(addr.sin_port);
}

void PrintMetric(const std::string& rendered, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(rendered, '\n')) {
    if (absl::StartsWith(line, name)) {
      std::printf("  %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
}

// The figures of one configuration, over all its rounds.
struct Measured {
  Latencies snapshot;
  Latencies batch;
  std::string metrics;  // the last round's delivery metrics, rendered
};

// One run of the load for options.run_for on a fresh database, with the
// refusing webhook or with no sink. Returns false when an ingest failed.
bool RunOnce(const BenchOptions& options, bool webhook, Measured* measured) {
  char dir_template[4096];
  std::snprintf(dir_template, sizeof(dir_template), "%s/alert_stall.XXXXXX",
                options.dir.c_str());
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return false;
  }
  const std::string dir = dir_template;
  int refusing_fd = -1;
  const int port = RefusingPort(&refusing_fd);

  EngineOptions engine_options;
  engine_options.db_path = dir + "/ghostpeer.db";
  engine_options.detector.confirmations = 1;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(engine_options);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
    return false;
  }
  alerts::AlertingOptions alerting_options;
  if (webhook) {
    alerting_options.webhook_urls = {
        absl::StrCat("http://127.0.0.1:", port, "/hook")};
  }
  alerting_options.db_path = engine_options.db_path;
  alerting_options.retry.backoff.initial = options.retry_initial;
  alerting_options.post_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<alerts::Alerting>> alerting =
      alerts::Alerting::Start(alerting_options, engine->get());
  if (!alerting.ok()) {
    std::fprintf(stderr, "alerting: %s\n",
                 alerting.status().ToString().c_str());
    return false;
  }

  // The vanished owners: held from 20 minutes ago until 5 minutes ago.
  const absl::Time start = absl::Now();
  uint64_t seq = 0;
  {
    v1::AddressEventBatch batch;
    for (int i = 0; i < kVanished; ++i) {
      *batch.add_events() =
          Event(++seq, v1::ATTACH, VanishedOwner(i), start - absl::Minutes(20));
      *batch.add_events() =
          Event(++seq, v1::DETACH, VanishedOwner(i), start - absl::Minutes(5));
    }
    if (absl::StatusOr<uint64_t> ack =
            (*engine)->IngestAddressEvents("node-srv", "bench", batch);
        !ack.ok()) {
      std::fprintf(stderr, "history: %s\n", ack.status().ToString().c_str());
      return false;
    }
  }

  Latencies& snapshot_latency = measured->snapshot;
  Latencies& batch_latency = measured->batch;
  std::atomic<bool> failed{false};
  const absl::Time deadline = start + options.run_for;
  std::vector<std::thread> threads;
  for (int node = 0; node < options.nodes; ++node) {
    threads.emplace_back([&, node] {
      int first_ghost_port = 40000;  // ghosts use ports [first, first+ghosts)
      uint64_t snapshot_id = 0;
      absl::Time next = absl::Now();
      while (next < deadline && !failed) {
        absl::SleepFor(next - absl::Now());
        next += options.snapshot_interval;
        v1::SocketSnapshot snapshot;
        snapshot.set_snapshot_id(++snapshot_id);
        snapshot.set_full(true);
        v1::NodeSnapshot* body = snapshot.mutable_snapshot();
        body->set_node(NodeName(node));
        body->set_agent_version("bench");
        *body->mutable_taken_at() = ToProto(absl::Now());
        v1::NamespaceInfo* ns = body->add_namespaces();
        ns->set_inode(4026540000);
        ns->set_status(v1::NAMESPACE_STATUS_OK);
        ns->add_addresses()->set_address(ClientAddress(node));
        for (int i = 0; i < options.sockets; ++i) {
          *body->add_sockets() = Socket(node, 10000 + i, "10.8.0.1");
        }
        for (int i = 0; i < options.ghosts; ++i) {
          *body->add_sockets() = Ghost(node, first_ghost_port + i);
        }
        first_ghost_port += options.churn;
        if (first_ghost_port + options.ghosts > 65000) first_ghost_port = 40000;
        const absl::Time begin = absl::Now();
        absl::StatusOr<v1::Ack> ack = (*engine)->IngestSnapshot(
            NodeName(node), "bench", std::move(snapshot), begin);
        snapshot_latency.Add(absl::Now() - begin);
        if (!ack.ok()) {
          std::fprintf(stderr, "snapshot: %s\n",
                       ack.status().ToString().c_str());
          failed = true;
        }
      }
    });
  }
  // Address events: a task attaching and detaching, one event per batch.
  threads.emplace_back([&] {
    v1::AddressOwner task = VanishedOwner(0);
    task.set_address("10.7.0.1");
    task.set_container_id("flapping");
    absl::Time next = absl::Now();
    uint64_t batch_seq = 0;
    while (next < deadline && !failed) {
      absl::SleepFor(next - absl::Now());
      next += options.batch_interval;
      ++batch_seq;
      v1::AddressEventBatch batch;
      *batch.add_events() =
          Event(batch_seq, batch_seq % 2 == 1 ? v1::ATTACH : v1::DETACH, task,
                absl::Now());
      const absl::Time begin = absl::Now();
      absl::StatusOr<uint64_t> ack =
          (*engine)->IngestAddressEvents("node-events", "bench", batch);
      batch_latency.Add(absl::Now() - begin);
      if (!ack.ok()) {
        std::fprintf(stderr, "batch: %s\n", ack.status().ToString().c_str());
        failed = true;
      }
    }
  });
  for (std::thread& t : threads) t.join();

  measured->metrics = (*alerting)->registry().Render();
  (*alerting)->Stop();
  alerting->reset();
  engine->reset();
  close(refusing_fd);
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error) {
    std::fprintf(stderr, "could not remove %s: %s\n", dir.c_str(),
                 error.message().c_str());
  }
  return !failed;
}

void PrintRow(const char* what, Latencies::Summary summary) {
  std::printf("  %-16s calls %6zu  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n",
              what, summary.calls, summary.p50_ms, summary.p99_ms,
              summary.max_ms);
}

void PrintRatio(const char* what, Latencies::Summary reference,
                Latencies::Summary measured) {
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("  %-16s p50 x%.2f  p99 x%.2f  max x%.2f\n", what,
              ratio(measured.p50_ms, reference.p50_ms),
              ratio(measured.p99_ms, reference.p99_ms),
              ratio(measured.max_ms, reference.max_ms));
}

int Run(const BenchOptions& options) {
  Measured reference, refusing;
  for (int round = 0; round < options.rounds; ++round) {
    std::fprintf(stderr, "round %d/%d: no webhook, then a refusing one\n",
                 round + 1, options.rounds);
    if (!RunOnce(options, /*webhook=*/false, &reference)) return 1;
    if (!RunOnce(options, /*webhook=*/true, &refusing)) return 1;
  }
  std::printf(
      "%d nodes x (%d sockets + %d ghosts, %d replaced) every %s, one address "
      "event every %s; %d round(s) of %s per configuration; failed "
      "deliveries retried first after %s\n",
      options.nodes, options.sockets, options.ghosts, options.churn,
      absl::FormatDuration(options.snapshot_interval).c_str(),
      absl::FormatDuration(options.batch_interval).c_str(), options.rounds,
      absl::FormatDuration(options.run_for).c_str(),
      absl::FormatDuration(options.retry_initial).c_str());
  const Latencies::Summary reference_snapshot = reference.snapshot.Summarize();
  const Latencies::Summary reference_batch = reference.batch.Summarize();
  const Latencies::Summary refusing_snapshot = refusing.snapshot.Summarize();
  const Latencies::Summary refusing_batch = refusing.batch.Summarize();
  std::printf("reference, no webhook:\n");
  PrintRow("IngestSnapshot", reference_snapshot);
  PrintRow("IngestAddress", reference_batch);
  std::printf("webhook refusing every delivery:\n");
  PrintRow("IngestSnapshot", refusing_snapshot);
  PrintRow("IngestAddress", refusing_batch);
  PrintMetric(refusing.metrics, "ghostpeer_alert_delivery_attempts_total");
  PrintMetric(refusing.metrics, "ghostpeer_alert_deliveries_pending");
  PrintMetric(refusing.metrics, "ghostpeer_findings_opened_total");
  PrintMetric(refusing.metrics, "ghostpeer_store_errors_total");
  std::printf("ratio, refusing webhook / reference (1.00: no cost):\n");
  PrintRatio("IngestSnapshot", reference_snapshot, refusing_snapshot);
  PrintRatio("IngestAddress", reference_batch, refusing_batch);
  return 0;
}

}  // namespace
}  // namespace ghostpeer::aggregator

int main(int argc, char** argv) {
  // One line per failed delivery would drown the figures.
  ghostpeer::LoggingOptions logging;
  logging.level = "error";
  logging.program = "alert_stall_bench";
  if (!ghostpeer::InitLogging(logging).ok()) return 1;
  ghostpeer::aggregator::BenchOptions options;
  for (int i = 1; i < argc; ++i) {
    if (!ghostpeer::aggregator::ParseFlag(argv[i], &options) ||
        options.nodes <= 0 || options.sockets < 0 || options.ghosts < 0 ||
        options.churn < 0 ||
        options.snapshot_interval <= absl::ZeroDuration() ||
        options.batch_interval <= absl::ZeroDuration() ||
        options.retry_initial <= absl::ZeroDuration()) {
      std::fprintf(stderr, "alert_stall_bench: bad flag %s (see the source)\n",
                   argv[i]);
      return 2;
    }
  }
  return ghostpeer::aggregator::Run(options);
}
