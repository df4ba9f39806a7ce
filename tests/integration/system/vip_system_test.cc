// Ghosts behind a live VIP, end to end (issue 10): ghostpeer-aggregator,
// two ghostpeer-agent processes as two nodes and the CLI, over
// ../shared/NOTES-vip-nat.md §5's namespaces. The client's node holds the
// client and the router whose conntrack DNATs the VIP to a backend; the
// other node holds the backends. A backend vanishes while a client keeps
// writing to the VIP: the client's socket names a live VIP, only its
// translation names the dead backend, and the finding must say both.
// Clients through the same VIP to a live backend, before and after the VIP
// is re-pointed, must have none. Needs root and iptables (skips otherwise).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/system/json_number.h"
#include "tests/integration/system/process.h"
#include "tests/support/vip_scenario.h"

namespace ghostpeer::testing {
namespace {

using nlohmann::json;

const std::string kBin = GHOSTPEER_BIN_DIR;
constexpr char kClientNode[] = "node-cli";
constexpr char kBackendNode[] = "node-be";
// Agents snapshot every second. A departure seen as an address missing
// from the backend node's observation needs two snapshots, then two
// confirming snapshots of the client's node: well inside this.
const absl::Duration kFindingDeadline = absl::Seconds(15);

struct Variant {
  std::string name;
  bool ipv6 = false;
  bool fin_first = false;  // FIN, then silence; else the link cut first
};

class VipSystemTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    VipScenarioOptions options;
    options.ipv6 = GetParam().ipv6;
    options.client_write_interval = absl::Milliseconds(100);
    options.prefix = "gp-it-vip-";
    absl::StatusOr<std::unique_ptr<VipScenario>> scenario =
        VipScenario::Create(options);
    if (absl::IsUnavailable(scenario.status())) {
      GTEST_SKIP() << scenario.status().message();
    }
    ASSERT_TRUE(scenario.ok()) << scenario.status();
    scenario_ = *std::move(scenario);

    char tmpl[] = "/tmp/gp-vip-system-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const int port = FreeLoopbackPort();
    ASSERT_GT(port, 0);
    server_ = absl::StrCat("127.0.0.1:", port);
    auto aggregator =
        Process::Start({kBin + "/ghostpeer-aggregator", "--listen", server_,
                        "--db", dir_ + "/ghostpeer.db", "--log-level", "debug"},
                       dir_ + "/aggregator.log");
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    aggregator_ = *std::move(aggregator);
    ASSERT_TRUE(WaitFor([&] { return Cli({"nodes"}).exit_code == 0; },
                        absl::Seconds(10)))
        << aggregator_->Log();

    // The client's node: the client and the router that translates (as a
    // swarm node holds its containers and its lb_ namespaces). The other
    // node: the backends. The scenario's range is routed between them.
    const std::string base = scenario_->router_netns().substr(
        0, scenario_->router_netns().size() - 4);
    StartAgent(kClientNode,
               {scenario_->client_netns(), scenario_->router_netns()});
    StartAgent(kBackendNode, {base + "-be*"});
    ASSERT_TRUE(WaitFor(
        [&] {
          int connected = 0;
          for (const json& n : Json({"nodes"}).value("nodes", json::array())) {
            if (n.value("connected", false)) ++connected;
          }
          return connected == 2;
        },
        absl::Seconds(15)))
        << Cli({"nodes"}).out << AgentLogs();
  }

  void TearDown() override {
    agents_.clear();
    aggregator_.reset();
    scenario_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
    if (HasFailure()) std::printf("logs kept in %s\n", dir_.c_str());
  }

  void StartAgent(const std::string& node,
                  const std::vector<std::string>& only) {
    auto process = Process::Start(
        {kBin + "/ghostpeer-agent", "--aggregator", server_, "--interval", "1s",
         "--node", node, "--netns-only", absl::StrJoin(only, ","),
         "--cluster-cidr", scenario_->cidr(), "--docker-socket", "",
         "--state-dir", dir_ + "/state-" + node, "--log-level", "debug"},
        dir_ + "/agent-" + node + ".log");
    ASSERT_TRUE(process.ok()) << process.status();
    agents_.push_back(*std::move(process));
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/ghostpeer", "--server", server_});
    return RunBinary(args, absl::Seconds(20));
  }

  json Json(std::vector<std::string> args) {
    args.insert(args.end(), {"-o", "json"});
    CommandResult result = Cli(args);
    if (result.exit_code != 0) return json::object();
    json parsed = json::parse(result.out, nullptr, false);
    return parsed.is_discarded() ? json::object() : parsed;
  }

  std::vector<json> AllFindings() {
    json all = Json({"findings", "--status", "all"});
    return all.value("findings", json::array()).get<std::vector<json>>();
  }

  // The client node's sockets to the VIP, as the aggregator holds them.
  std::vector<json> VipSockets() {
    std::vector<json> out;
    for (const json& s : Json({"sockets"}).value("sockets", json::array())) {
      if (s.value("node", "") == kClientNode &&
          s.value("remote_ip", "") == scenario_->vip()) {
        out.push_back(s);
      }
    }
    return out;
  }

  // Waits until the aggregator holds a client socket to the VIP on local
  // port `local_port` (0: any new one not in `known`) translated to
  // `backend`; returns its local port, 0 on timeout.
  uint64_t AwaitTranslated(const std::string& backend,
                           const std::vector<uint64_t>& known) {
    uint64_t port = 0;
    WaitFor(
        [&] {
          for (const json& s : VipSockets()) {
            const uint64_t local = AsU64(s["local_port"]);
            if (s.value("backend_ip", "") != backend ||
                std::find(known.begin(), known.end(), local) != known.end()) {
              continue;
            }
            port = local;
            return true;
          }
          return false;
        },
        absl::Seconds(10), absl::Milliseconds(250));
    return port;
  }

  // The backend's address has an open interval owned by the backend node.
  bool BackendHeld(int backend) {
    for (const json& i : Json({"history", scenario_->backend_address(backend)})
                             .value("intervals", json::array())) {
      if (i.value("node", "") == kBackendNode && !i.contains("until")) {
        return true;
      }
    }
    return false;
  }

  json AwaitVanished() {
    json found;
    WaitFor(
        [&] {
          for (const json& f : AllFindings()) {
            if (f.value("kind", "") == "VANISHED_PEER" &&
                f.value("status", "") == "OPEN" &&
                f.value("severity", "") == "CRITICAL") {
              found = f;
              return true;
            }
          }
          return false;
        },
        kFindingDeadline, absl::Milliseconds(250));
    return found;
  }

  std::string AgentLogs() {
    std::string logs;
    for (const auto& agent : agents_) logs += agent->Log().substr(0, 4000);
    return logs;
  }

  std::unique_ptr<VipScenario> scenario_;
  std::string dir_;
  std::string server_;
  std::unique_ptr<Process> aggregator_;
  std::vector<std::unique_ptr<Process>> agents_;
};

TEST_P(VipSystemTest, BackendVanishesBehindALiveVip) {
  VipScenario& vip = *scenario_;
  // The ghost-to-be: through the VIP to backend 1.
  ASSERT_TRUE(vip.ConnectClient().ok());
  const uint64_t ghost_port = AwaitTranslated(vip.backend_address(1), {});
  ASSERT_NE(ghost_port, 0u) << Cli({"sockets"}).out << AgentLogs();
  // A second client through the same VIP to a live backend.
  ASSERT_TRUE(vip.RepointVip(2).ok());
  ASSERT_TRUE(vip.ConnectClient().ok());
  const uint64_t live_port =
      AwaitTranslated(vip.backend_address(2), {ghost_port});
  ASSERT_NE(live_port, 0u) << Cli({"sockets"}).out;
  ASSERT_TRUE(WaitFor([&] { return BackendHeld(1) && BackendHeld(2); },
                      absl::Seconds(10)))
      << Cli({"history", vip.backend_address(1)}).out;
  if (GetParam().fin_first) {
    ASSERT_TRUE(vip.SendFin(1).ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          for (const json& s : VipSockets()) {
            if (AsU64(s["local_port"]) == ghost_port &&
                s.value("state", "") == "TCP_STATE_CLOSE_WAIT") {
              return true;
            }
          }
          return false;
        },
        absl::Seconds(10)))
        << Cli({"sockets"}).out;
  }
  EXPECT_TRUE(AllFindings().empty() || GetParam().fin_first)
      << "nothing vanished yet: " << Cli({"findings", "--status", "all"}).out;

  ASSERT_TRUE(vip.Vanish(1).ok());
  // A new connection after the backend died goes to the live one.
  ASSERT_TRUE(vip.ConnectClient().ok());
  const uint64_t new_port =
      AwaitTranslated(vip.backend_address(2), {ghost_port, live_port});
  ASSERT_NE(new_port, 0u) << Cli({"sockets"}).out;

  json finding = AwaitVanished();
  ASSERT_FALSE(finding.is_null())
      << Cli({"findings", "--status", "all"}).out << AgentLogs();
  const json& socket = finding["socket"];
  EXPECT_EQ(socket.value("node", ""), kClientNode);
  EXPECT_EQ(AsU64(socket["local_port"]), ghost_port);
  EXPECT_EQ(socket.value("remote_ip", ""), vip.vip()) << "names the VIP";
  EXPECT_EQ(AsU64(socket["remote_port"]), vip.port());
  EXPECT_EQ(socket.value("backend_ip", ""), vip.backend_address(1))
      << "and the dead backend: " << finding.dump(2);
  EXPECT_EQ(AsU64(socket["backend_port"]), vip.port());
  EXPECT_EQ(socket.value("translated_by", ""), "TRANSLATOR_CONNTRACK");
  EXPECT_EQ(socket.value("state", ""), GetParam().fin_first
                                           ? "TCP_STATE_CLOSE_WAIT"
                                           : "TCP_STATE_ESTABLISHED");
  const json& last = finding["peer_last_owner"];
  EXPECT_EQ(last.value("node", ""), kBackendNode);
  EXPECT_EQ(last.value("netns", ""), vip.backend_netns(1));
  EXPECT_TRUE(last.contains("until")) << "when it left";
  EXPECT_FALSE(finding.contains("peer_current_owner")) << "nobody holds it";
  EXPECT_GT(AsU64(finding["bytes_at_risk"]), 0u);
  const std::string story = finding.value("story", "");
  EXPECT_NE(story.find(vip.vip()), std::string::npos) << story;
  EXPECT_NE(story.find(vip.backend_address(1)), std::string::npos) << story;
  CommandResult table = Cli({"findings"});
  EXPECT_NE(table.out.find(vip.backend_address(1)), std::string::npos)
      << table.out;

  // A few more snapshots: the clients whose backend lives never get one.
  absl::SleepFor(absl::Seconds(3));
  for (const json& f : AllFindings()) {
    const uint64_t port = AsU64(f["socket"]["local_port"]);
    EXPECT_EQ(port, ghost_port) << "only the ghost: " << f.dump(2);
  }
  EXPECT_EQ(Cli({"check", "--severity", "critical"}).exit_code, 1);
}

INSTANTIATE_TEST_SUITE_P(
    Deaths, VipSystemTest,
    ::testing::Values(Variant{"FinThenSilentIpv4", false, true},
                      Variant{"LinkCutWithoutFinIpv4", false, false},
                      Variant{"LinkCutWithoutFinIpv6", true, false},
                      Variant{"FinThenSilentIpv6", true, true}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace ghostpeer::testing
