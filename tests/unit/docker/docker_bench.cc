// What the manager-side poll costs on a big cluster: parsing /tasks and
// diffing it, per task, against the floor of parsing the same bytes with
// nlohmann alone (measured in the same run). Also one /events line and one
// inspect body, the per-event cost on every node.
//
//   build-docker/bin/agent_docker_bench --benchmark_counters_tabular=true
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/docker/address_book.h"
#include "agent/docker/docker_api.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"

namespace ghostpeer::agent::docker {
namespace {

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(GHOSTPEER_DOCKER_TESTDATA) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `n` tasks shaped like the captured ones: 80% running, 20% shut down (the
// retained history), spread over 250 services and 100 nodes, each with a
// distinct address.
std::string SyntheticTasks(int n) {
  const nlohmann::json captured = nlohmann::json::parse(Testdata("tasks.json"));
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    nlohmann::json task = captured[0];
    task["ID"] = absl::StrCat("task", i);
    task["ServiceID"] = absl::StrCat("svc", i % 250);
    task["NodeID"] = absl::StrCat("node", i % 100);
    task["Slot"] = i / 250 + 1;
    task["Status"]["State"] = i % 5 == 0 ? "shutdown" : "running";
    task["NetworksAttachments"][0]["Addresses"][0] = absl::StrCat(
        "10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255, "/8");
    out.push_back(std::move(task));
  }
  return out.dump();
}

void BM_JsonParseFloor(benchmark::State& state) {
  const std::string body = SyntheticTasks(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(nlohmann::json::parse(body));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_JsonParseFloor)
    ->Arg(1000)
    ->Arg(20000)
    ->Unit(benchmark::kMillisecond);

void BM_ParseTaskList(benchmark::State& state) {
  const std::string body = SyntheticTasks(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto tasks = ParseTaskList(body);
    if (!tasks.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(tasks);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_ParseTaskList)
    ->Arg(1000)
    ->Arg(20000)
    ->Unit(benchmark::kMillisecond);

// A steady-state poll: nothing changed since the last one.
void BM_SwarmBookSteadyPoll(benchmark::State& state) {
  SwarmView view;
  view.tasks = *ParseTaskList(SyntheticTasks(static_cast<int>(state.range(0))));
  for (int s = 0; s < 250; ++s) {
    Service service;
    service.id = absl::StrCat("svc", s);
    service.name = absl::StrCat("service-", s);
    view.services.push_back(service);
  }
  SwarmAddressBook book;
  const absl::Time now = absl::Now();
  book.Apply(view, now);
  for (auto _ : state) {
    auto events = book.Apply(view, now);
    if (!events.empty()) state.SkipWithError("steady poll produced events");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SwarmBookSteadyPoll)
    ->Arg(1000)
    ->Arg(20000)
    ->Unit(benchmark::kMillisecond);

void BM_ParseEventLine(benchmark::State& state) {
  const std::string text = Testdata("events_swarm.jsonl");
  const std::string line = text.substr(0, text.find('\n'));
  for (auto _ : state) benchmark::DoNotOptimize(ParseEvent(line));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseEventLine);

void BM_ParseInspect(benchmark::State& state) {
  const std::string body = Testdata("container_inspect_task.json");
  for (auto _ : state) benchmark::DoNotOptimize(ParseContainerDetails(body));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInspect);

}  // namespace
}  // namespace ghostpeer::agent::docker

BENCHMARK_MAIN();
