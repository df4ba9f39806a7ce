// Aggregator failover for real (issue 12): two ghostpeer-aggregator
// processes sharing one PostgreSQL history (a private cluster this program
// starts), two ghostpeer-agent processes given both
// (--aggregator 127.0.0.1:A,127.0.0.1:B) over the namespace scenario of
// system_test.cc. The aggregator the agents stream to is killed with
// SIGKILL mid-stream and the scenario's server vanishes at the same moment:
// the agents fail over to the survivor, which has the address history the
// dead one acknowledged and finds the ghost made during the failover.
// Needs root (namespaces); PostgreSQL runs as an unprivileged user.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/system/process.h"
#include "tests/support/netns_scenario.h"
#include "tests/support/postgres_cluster.h"

namespace ghostpeer::testing {
namespace {

using nlohmann::json;

const std::string kBin = GHOSTPEER_BIN_DIR;
constexpr char kServerNode[] = "node-srv";
constexpr char kClientNode[] = "node-cli";

class FailoverSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    char tmpl[] = "/tmp/gp-failover-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
        PostgresCluster::Create();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    absl::StatusOr<std::string> uri = cluster_->CreateDatabase("failover");
    ASSERT_TRUE(uri.ok()) << uri.status();
    db_ = *uri;
  }

  void TearDown() override {
    agents_.clear();
    aggregators_.clear();
    cluster_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
    if (HasFailure()) std::printf("logs kept in %s\n", dir_.c_str());
  }

  // One replica on a free loopback port, sharing the history; its address.
  std::string StartAggregator(const std::string& name) {
    const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    auto process = Process::Start(
        {kBin + "/ghostpeer-aggregator", "--listen", address, "--db", db_,
         "--remediation", "off", "--log-level", "debug"},
        absl::StrCat(dir_, "/aggregator-", name, ".log"));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return "";
    aggregators_.push_back(std::move(*process));
    EXPECT_TRUE(WaitFor([&] { return Cli(address, {"nodes"}).exit_code == 0; },
                        absl::Seconds(15)))
        << aggregators_.back()->Log();
    return address;
  }

  void StartAgent(const std::string& node,
                  const std::vector<std::string>& only) {
    auto process = Process::Start(
        {kBin + "/ghostpeer-agent", "--aggregator",
         absl::StrJoin(aggregator_list_, ","), "--interval", "1s", "--node",
         node, "--netns-only", absl::StrJoin(only, ","), "--cluster-cidr",
         "10.99.0.0/24", "--docker-socket", "", "--state-dir",
         dir_ + "/state-" + node, "--log-level", "debug"},
        dir_ + "/agent-" + node + ".log");
    ASSERT_TRUE(process.ok()) << process.status();
    agents_.push_back(std::move(*process));
  }

  CommandResult Cli(const std::string& server, std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/ghostpeer", "--server", server});
    return RunBinary(args, absl::Seconds(20));
  }

  json Json(const std::string& server, std::vector<std::string> args) {
    args.push_back("-o");
    args.push_back("json");
    CommandResult result = Cli(server, args);
    if (result.exit_code != 0) return json::object();
    json parsed = json::parse(result.out, nullptr, false);
    return parsed.is_discarded() ? json::object() : parsed;
  }

  // The nodes `server` has a live stream from.
  int ConnectedNodes(const std::string& server) {
    int connected = 0;
    for (const json& n :
         Json(server, {"nodes"}).value("nodes", json::array())) {
      if (n.value("connected", false)) ++connected;
    }
    return connected;
  }

  // The intervals of `address` owned by the server's node, as `server`
  // answers: "open since S" or "closed since S" each.
  std::vector<std::string> ServerNodeIntervals(const std::string& server,
                                               const std::string& address) {
    std::vector<std::string> intervals;
    for (const json& i :
         Json(server, {"history", address}).value("intervals", json::array())) {
      if (i.value("node", "") != kServerNode) continue;
      intervals.push_back(absl::StrCat(i.contains("until") ? "closed" : "open",
                                       " ", Since(i.value("since", ""))));
    }
    return intervals;
  }

  // "since <unix microseconds>" of a JSON timestamp: PostgreSQL keeps
  // microseconds, so a replica reading the shared history gives no more.
  static std::string Since(const std::string& timestamp) {
    absl::Time time;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, timestamp, &time, &error)) {
      return absl::StrCat("since unparsable '", timestamp, "': ", error);
    }
    return absl::StrCat("since ", absl::ToUnixMicros(time));
  }

  std::string Logs() {
    std::string logs;
    for (const auto& p : aggregators_) logs += p->Log().substr(0, 4000);
    for (const auto& p : agents_) logs += p->Log().substr(0, 4000);
    return logs;
  }

  std::string dir_;
  std::unique_ptr<PostgresCluster> cluster_;
  std::string db_;
  std::vector<std::string> aggregator_list_;
  std::vector<std::unique_ptr<Process>> aggregators_;
  std::vector<std::unique_ptr<Process>> agents_;
};

// Rests on the replicas' shared history: the survivor reads what the dead
// one stored, and its Hello answer says how far that went, so the agents
// resume after it.
TEST_F(FailoverSystemTest, AgentsFailOverAndTheSurvivorFindsTheGhost) {
  const std::string first = StartAggregator("a");
  ASSERT_FALSE(first.empty());
  const std::string second = StartAggregator("b");
  ASSERT_FALSE(second.empty());
  aggregator_list_ = {first, second};

  NetnsScenarioOptions options;
  options.prefix = "gpf";
  auto created = NetnsScenario::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<NetnsScenario> scenario = std::move(*created);
  const std::string base =
      scenario->server_netns().substr(0, scenario->server_netns().size() - 4);
  ASSERT_NO_FATAL_FAILURE(
      StartAgent(kServerNode, {scenario->server_netns(), base + "-new*"}));
  ASSERT_NO_FATAL_FAILURE(StartAgent(kClientNode, {base + "-c*"}));

  // Both stream to the first in the list; the server's address is stored
  // (acknowledged: the first answers from what it stored).
  ASSERT_TRUE(
      WaitFor([&] { return ConnectedNodes(first) == 2; }, absl::Seconds(15)))
      << Cli(first, {"nodes"}).out << Logs();
  EXPECT_EQ(ConnectedNodes(second), 0);
  const std::string address = scenario->server_address();
  std::vector<std::string> held;
  ASSERT_TRUE(WaitFor(
      [&] {
        held = ServerNodeIntervals(first, address);
        return held.size() == 1 && held[0].rfind("open since ", 0) == 0;
      },
      absl::Seconds(10)))
      << Cli(first, {"history", address}).out << Logs();
  const std::string since = held[0].substr(std::string("open ").size());

  // The first dies mid-stream, and the server vanishes meanwhile: its
  // detach goes to whichever aggregator the server's node reaches next.
  ASSERT_EQ(aggregators_[0]->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(scenario->Vanish().ok());

  ASSERT_TRUE(
      WaitFor([&] { return ConnectedNodes(second) == 2; }, absl::Seconds(15)))
      << Cli(second, {"nodes"}).out << Logs();
  for (const auto& agent : agents_) {
    EXPECT_NE(agent->Log().find(absl::StrCat("failing over to ", second)),
              std::string::npos)
        << agent->Log().substr(0, 4000);
  }
  // What the first acknowledged is in the survivor's history: the interval
  // that began when the first stored it (an aggregator that learnt it anew
  // from the agent's inventory would date it from the failover), closed by
  // the detach sent after the failover.
  EXPECT_TRUE(WaitFor(
      [&] {
        return ServerNodeIntervals(second, address) ==
               std::vector<std::string>{absl::StrCat("closed ", since)};
      },
      absl::Seconds(15)))
      << "want closed " << since << "\n"
      << Cli(second, {"history", address}).out << Logs();

  // The ghost made during the failover: the survivor finds it, and the CLI
  // given both aggregators gets there past the dead one.
  const std::string both = absl::StrJoin(aggregator_list_, ",");
  json finding;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const json& f :
             Json(both, {"findings"}).value("findings", json::array())) {
          if (f.value("kind", "") == "VANISHED_PEER") {
            finding = f;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(20), absl::Milliseconds(250)))
      << Cli(second, {"findings", "--status", "all"}).out << Logs();
  EXPECT_EQ(finding["socket"].value("node", ""), kClientNode);
  EXPECT_EQ(finding["socket"].value("remote_ip", ""), address);
  EXPECT_EQ(finding["peer_last_owner"].value("node", ""), kServerNode);
  EXPECT_EQ(Since(finding["peer_last_owner"].value("since", "")), since);
  EXPECT_EQ(Cli(second, {"check", "--severity", "critical"}).exit_code, 1);
}

}  // namespace
}  // namespace ghostpeer::testing
