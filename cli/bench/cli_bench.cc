// Costs of the CLI's work per finding, measured in one run so that ratios
// hold on a noisy machine:
//   BM_ListFindingsCall   the bare ListFindings RPC over loopback (the floor)
//   BM_FindingsCommand    RunCli("findings"): the RPC + table + stories
//   BM_FindingsJson       RunCli("findings -o json")
//   BM_RenderFindings     the table and stories alone, no RPC
//   BM_DrawTimeline       the history drawing, per interval
// Compare BM_FindingsCommand with BM_ListFindingsCall at the same size for
// what rendering adds to a query.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "cli/cli.h"
#include "cli/connection.h"
#include "cli/render.h"
#include "cli/timeline.h"
#include "common/time_util.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795435800);

v1::ListFindingsResponse MakeFindings(int count) {
  v1::ListFindingsResponse response;
  for (int i = 0; i < count; ++i) {
    v1::Finding* finding = response.add_findings();
    finding->set_id(absl::StrCat("finding-", i));
    finding->set_kind(i % 3 == 0 ? v1::REASSIGNED_PEER : v1::VANISHED_PEER);
    finding->set_severity(i % 2 == 0 ? v1::CRITICAL : v1::WARNING);
    finding->set_status(v1::OPEN);
    v1::SocketRecord* socket = finding->mutable_socket();
    socket->set_node(absl::StrCat("node-", i % 50));
    socket->set_netns_inode(4026532000 + i);
    socket->set_local_ip(
        absl::StrCat("10.0.", i / 250 % 250, ".", i % 250 + 2));
    socket->set_local_port(40000 + i % 20000);
    socket->set_remote_ip("10.0.1.6");
    socket->set_remote_port(27017);
    socket->set_state(v1::TCP_STATE_CLOSE_WAIT);
    socket->set_send_queue(1000 + i);
    socket->set_pid(1000 + i);
    socket->set_comm("orders");
    socket->set_task(absl::StrCat("orders.", i % 20, ".k3j4h5g6f7d8s9a0"));
    socket->mutable_tcp_info()->set_backoff(6);
    socket->mutable_tcp_info()->set_rto_us(13056000);
    v1::AddressOwner* last = finding->mutable_peer_last_owner();
    last->set_task("mongo.1");
    last->set_node("node-3");
    *last->mutable_until() = ToProto(kNow - absl::Minutes(4));
    *finding->mutable_first_seen() = ToProto(kNow - absl::Minutes(3));
    finding->set_bytes_at_risk(1000 + 37 * i);
  }
  return response;
}

// Answers ListFindings with one canned response.
class CannedQuery final : public v1::Query::Service {
 public:
  explicit CannedQuery(v1::ListFindingsResponse response)
      : response_(std::move(response)) {}
  grpc::Status ListFindings(grpc::ServerContext*,
                            const v1::ListFindingsRequest*,
                            v1::ListFindingsResponse* response) override {
    *response = response_;
    return grpc::Status::OK;
  }

 private:
  const v1::ListFindingsResponse response_;
};

struct Server {
  explicit Server(int count) : service(MakeFindings(count)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    address = absl::StrCat("127.0.0.1:", port);
  }
  ~Server() { server->Shutdown(); }
  CannedQuery service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

void BM_ListFindingsCall(benchmark::State& state) {
  Server server(static_cast<int>(state.range(0)));
  ConnectionOptions options;
  options.server = server.address;
  auto connection = QueryConnection::Open(options);
  if (!connection.ok()) {
    state.SkipWithError(connection.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    auto context = (*connection)->NewContext(/*with_deadline=*/true);
    v1::ListFindingsResponse response;
    grpc::Status status =
        (*connection)
            ->stub()
            .ListFindings(context.get(), v1::ListFindingsRequest(), &response);
    if (!status.ok()) state.SkipWithError(status.error_message().c_str());
    benchmark::DoNotOptimize(response);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void RunCommand(benchmark::State& state, std::vector<std::string> extra) {
  Server server(static_cast<int>(state.range(0)));
  std::vector<std::string> args = {"ghostpeer", "findings", "--server",
                                   server.address};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  CliEnvironment env;
  for (auto _ : state) {
    std::ostringstream out, err;
    if (RunCli(static_cast<int>(argv.size()), argv.data(), out, err, env) !=
        0) {
      state.SkipWithError(err.str().c_str());
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_FindingsCommand(benchmark::State& state) { RunCommand(state, {}); }
void BM_FindingsJson(benchmark::State& state) {
  RunCommand(state, {"-o", "json"});
}

void BM_RenderFindings(benchmark::State& state) {
  const v1::ListFindingsResponse response =
      MakeFindings(static_cast<int>(state.range(0)));
  const RenderOptions options{kNow, absl::UTCTimeZone(), false};
  for (auto _ : state) {
    benchmark::DoNotOptimize(RenderFindings(response, options));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_DrawTimeline(benchmark::State& state) {
  google::protobuf::RepeatedPtrField<v1::AddressOwner> intervals;
  for (int i = 0; i < state.range(0); ++i) {
    v1::AddressOwner* owner = intervals.Add();
    owner->set_task(absl::StrCat("mongo.", i % 5));
    *owner->mutable_since() = ToProto(kNow - absl::Minutes(2 * (i + 1)));
    *owner->mutable_until() = ToProto(kNow - absl::Minutes(2 * i + 1));
  }
  const RenderOptions options{kNow, absl::UTCTimeZone(), false};
  for (auto _ : state) {
    benchmark::DoNotOptimize(DrawTimeline(intervals, std::nullopt, options));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_ListFindingsCall)->Arg(10)->Arg(1000)->Arg(10000)->UseRealTime();
BENCHMARK(BM_FindingsCommand)->Arg(10)->Arg(1000)->Arg(10000)->UseRealTime();
BENCHMARK(BM_FindingsJson)->Arg(10)->Arg(1000)->Arg(10000)->UseRealTime();
BENCHMARK(BM_RenderFindings)->Arg(1000)->Arg(10000);
BENCHMARK(BM_DrawTimeline)->Arg(10)->Arg(1000);

}  // namespace
}  // namespace ghostpeer::cli

BENCHMARK_MAIN();
