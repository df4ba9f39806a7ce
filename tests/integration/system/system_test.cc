// The whole system for real: ghostpeer-aggregator, two ghostpeer-agent
// processes as two nodes (one sees the server's namespace, the other the
// clients'), and the ghostpeer CLI, over docs/scenario.md's namespace recipe.
// The client's node has the socket, the other node saw the server vanish:
// only the aggregator's join can tell (issue 3). Needs root.
#include <unistd.h>

#include <csignal>
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
#include "tests/support/command.h"
#include "tests/support/netns_scenario.h"

namespace ghostpeer::testing {
namespace {

using nlohmann::json;

const std::string kBin = GHOSTPEER_BIN_DIR;
constexpr char kServerNode[] = "node-srv";
constexpr char kClientNode[] = "node-cli";
// Agents snapshot every second here; the issue wants a finding within two
// intervals of the evidence. The margin covers process start-up and the
// address event's way through the server's node.
const absl::Duration kFindingDeadline = absl::Seconds(12);

class SystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    char tmpl[] = "/tmp/gp-system-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = FreeLoopbackPort();
    ASSERT_GT(port_, 0);
    http_port_ = FreeLoopbackPort();
    ASSERT_GT(http_port_, 0);
    server_ = absl::StrCat("127.0.0.1:", port_);
    StartAggregator();
  }

  void TearDown() override {
    agents_.clear();
    aggregator_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
    if (HasFailure()) std::printf("logs kept in %s\n", dir_.c_str());
  }

  void StartAggregator() {
    auto process = Process::Start(
        {kBin + "/ghostpeer-aggregator", "--listen", server_, "--db",
         dir_ + "/ghostpeer.db", "--log-level", "debug", "--http-listen",
         absl::StrCat("127.0.0.1:", http_port_)},
        absl::StrCat(dir_, "/aggregator-", ++aggregator_starts_, ".log"));
    ASSERT_TRUE(process.ok()) << process.status();
    aggregator_ = std::move(*process);
    ASSERT_TRUE(WaitFor([&] { return Cli({"nodes"}).exit_code == 0; },
                        absl::Seconds(10)))
        << aggregator_->Log();
  }

  // An agent that sees only the named namespaces (globs), as a node would
  // see only its own containers. The scenario's range stands for a network
  // both "nodes" reach, which Docker does not describe: the operator says
  // so with --cluster-cidr (unexplained addresses are node-local).
  void StartAgent(const std::string& node,
                  const std::vector<std::string>& only) {
    auto process = Process::Start(
        {kBin + "/ghostpeer-agent", "--aggregator", server_, "--interval", "1s",
         "--node", node, "--netns-only", absl::StrJoin(only, ","),
         "--cluster-cidr", "10.99.0.0/24,fd00:99::/64", "--docker-socket", "",
         "--state-dir", dir_ + "/state-" + node, "--log-level", "debug"},
        dir_ + "/agent-" + node + ".log");
    ASSERT_TRUE(process.ok()) << process.status();
    agents_.push_back(std::move(*process));
  }

  // Both nodes of a scenario: the server's namespace (and whoever takes its
  // address later) on one, the clients on the other.
  void StartNodes(const NetnsScenario& scenario) {
    const std::string base =
        scenario.server_netns().substr(0, scenario.server_netns().size() - 4);
    StartAgent(kServerNode, {scenario.server_netns(), base + "-new*"});
    StartAgent(kClientNode, {base + "-c*"});
    ASSERT_TRUE(WaitFor(
        [&] {
          json nodes = Json({"nodes"});
          int connected = 0;
          for (const json& n : nodes.value("nodes", json::array())) {
            if (n.value("connected", false)) ++connected;
          }
          return connected == 2;
        },
        absl::Seconds(15)))
        << Cli({"nodes"}).out << AgentLogs();
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {kBin + "/ghostpeer", "--server", server_});
    return RunBinary(args, absl::Seconds(20));
  }

  json Json(std::vector<std::string> args) {
    args.push_back("-o");
    args.push_back("json");
    CommandResult result = Cli(args);
    if (result.exit_code != 0) return json::object();
    json parsed = json::parse(result.out, nullptr, false);
    return parsed.is_discarded() ? json::object() : parsed;
  }

  std::vector<json> Findings(const std::string& kind,
                             const std::string& status = "all") {
    std::vector<json> out;
    for (const json& f : Json({"findings", "--status", status})
                             .value("findings", json::array())) {
      if (f.value("kind", "") == kind) out.push_back(f);
    }
    return out;
  }

  // The first finding of `kind` (and severity, if given) within `timeout`.
  json AwaitFinding(const std::string& kind, const std::string& severity = "",
                    const std::string& status = "open",
                    absl::Duration timeout = kFindingDeadline) {
    json found;
    WaitFor(
        [&] {
          for (const json& f : Findings(kind, status)) {
            if (severity.empty() || f.value("severity", "") == severity) {
              found = f;
              return true;
            }
          }
          return false;
        },
        timeout, absl::Milliseconds(250));
    return found;
  }

  // The server address has an open interval owned by the server's node.
  void AwaitServerHeld(const NetnsScenario& scenario) {
    ASSERT_TRUE(WaitFor(
        [&] {
          for (const json& i : Json({"history", scenario.server_address()})
                                   .value("intervals", json::array())) {
            if (i.value("node", "") == kServerNode && !i.contains("until")) {
              return true;
            }
          }
          return false;
        },
        absl::Seconds(10)))
        << Cli({"history", scenario.server_address()}).out << AgentLogs();
  }

  // The client's socket as the aggregator sees it reaches `state` (the
  // server's FIN arrives a second after it accepted).
  void AwaitClientState(const NetnsScenario& scenario,
                        const std::string& state) {
    ASSERT_TRUE(WaitFor(
        [&] {
          for (const json& s :
               Json({"sockets", "--peer", scenario.server_address()})
                   .value("sockets", json::array())) {
            if (s.value("node", "") == kClientNode &&
                s.value("state", "").find(state) != std::string::npos) {
              return true;
            }
          }
          return false;
        },
        absl::Seconds(10)))
        << Cli({"sockets", "--peer", scenario.server_address()}).out;
  }

  // The scenario running, both nodes reporting, the server's address in the
  // history and, when the server sends FIN, the client in CLOSE_WAIT: the
  // ground every test starts from. Use with ASSERT_NO_FATAL_FAILURE.
  void Bring(NetnsScenarioOptions options,
             std::unique_ptr<NetnsScenario>* scenario) {
    if (options.prefix == NetnsScenarioOptions().prefix) options.prefix = "gps";
    auto created = NetnsScenario::Create(options);
    ASSERT_TRUE(created.ok()) << created.status();
    *scenario = std::move(*created);
    ASSERT_NO_FATAL_FAILURE(StartNodes(**scenario));
    ASSERT_NO_FATAL_FAILURE(AwaitServerHeld(**scenario));
    if (options.server_fin_after > absl::ZeroDuration()) {
      ASSERT_NO_FATAL_FAILURE(AwaitClientState(**scenario, "CLOSE_WAIT"));
    }
  }

  std::string AgentLogs() {
    std::string logs;
    for (const auto& agent : agents_) logs += agent->Log().substr(0, 4000);
    return logs;
  }

  std::string dir_;
  int port_ = 0;
  int http_port_ = 0;  // the web page, /metrics
  std::string server_;
  int aggregator_starts_ = 0;
  std::unique_ptr<Process> aggregator_;
  std::vector<std::unique_ptr<Process>> agents_;
};

void ExpectVanishedFinding(const json& finding, const NetnsScenario& scenario,
                           const std::string& state) {
  ASSERT_FALSE(finding.is_null());
  const json& socket = finding["socket"];
  EXPECT_EQ(socket.value("node", ""), kClientNode);
  EXPECT_EQ(socket.value("remote_ip", ""), scenario.server_address());
  EXPECT_EQ(AsU64(socket["remote_port"]), scenario.server_port());
  EXPECT_EQ(socket.value("local_ip", ""), scenario.client_address(0));
  EXPECT_NE(socket.value("state", "").find(state), std::string::npos)
      << finding.dump(2);
  EXPECT_EQ(AsU64(socket["pid"]),
            static_cast<uint64_t>(scenario.client_pid(0)));
  EXPECT_FALSE(socket.value("comm", "").empty());
  const json& last = finding["peer_last_owner"];
  EXPECT_EQ(last.value("node", ""), kServerNode);
  EXPECT_EQ(last.value("netns", ""), scenario.server_netns());
  EXPECT_TRUE(last.contains("until")) << "when it left";
  EXPECT_FALSE(finding.contains("peer_current_owner")) << "nobody holds it";
}

TEST_F(SystemTest, ServerVanishesAfterFin) {
  NetnsScenarioOptions options;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  // The client writes on after the server's FIN: from the second snapshot
  // in CLOSE_WAIT on, that is a CLOSE_WAIT_WRITER warning, true whoever
  // holds the address. Waiting for it (rather than checking at once and
  // hoping no snapshot came between) also means the client's node was
  // judged at least twice with the server alive: enough confirmations for
  // a false VANISHED_PEER to show.
  json writer = AwaitFinding("CLOSE_WAIT_WRITER", "WARNING");
  ASSERT_FALSE(writer.is_null()) << Cli({"findings", "--status", "all"}).out;
  EXPECT_EQ(writer["socket"].value("node", ""), kClientNode);
  EXPECT_EQ(writer["socket"].value("remote_ip", ""),
            scenario->server_address());
  EXPECT_TRUE(Findings("VANISHED_PEER").empty()) << "nothing vanished yet";
  EXPECT_TRUE(Findings("REASSIGNED_PEER").empty()) << "nothing moved";
  EXPECT_EQ(Cli({"check", "--severity", "critical"}).exit_code, 0);

  ASSERT_TRUE(scenario->Vanish().ok());
  json finding = AwaitFinding("VANISHED_PEER", "CRITICAL");
  ExpectVanishedFinding(finding, *scenario, "CLOSE_WAIT");
  EXPECT_GT(AsU64(finding["bytes_at_risk"]), 0u);
  EXPECT_EQ(Cli({"check", "--severity", "critical"}).exit_code, 1);
  // People get a table and a story, not only JSON.
  CommandResult table = Cli({"findings"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find(scenario->server_address()), std::string::npos)
      << table.out;

  // One socket, one finding: the close-wait writer became the vanished
  // peer under its id.
  EXPECT_EQ(finding.value("id", ""), writer.value("id", ""));
  EXPECT_EQ(finding.value("previous_kind", ""), "CLOSE_WAIT_WRITER");
  EXPECT_TRUE(Findings("CLOSE_WAIT_WRITER").empty());

  // The client goes away: the finding resolves, check is clean again.
  ASSERT_TRUE(KillAndReap(scenario->client_pid(0)).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return Cli({"check", "--severity", "warning"}).exit_code == 0;
      },
      kFindingDeadline))
      << Cli({"findings", "--status", "all"}).out;
  EXPECT_FALSE(AwaitFinding("VANISHED_PEER", "", "resolved").is_null());
}

TEST_F(SystemTest, ServerVanishesWithoutFin) {
  NetnsScenarioOptions options;
  options.server_fin_after = absl::ZeroDuration();
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  ASSERT_TRUE(scenario->Vanish().ok());
  json finding = AwaitFinding("VANISHED_PEER", "CRITICAL");
  ExpectVanishedFinding(finding, *scenario, "ESTABLISHED");
}

TEST_F(SystemTest, IdleClientIsAWarning) {
  NetnsScenarioOptions options;
  options.client_mode = ClientMode::kIdle;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  ASSERT_TRUE(scenario->Vanish().ok());
  json finding = AwaitFinding("VANISHED_PEER");
  ExpectVanishedFinding(finding, *scenario, "CLOSE_WAIT");
  EXPECT_EQ(finding.value("severity", ""), "WARNING")
      << "an idle client has nothing at risk yet: " << finding.dump(2);
  EXPECT_EQ(Cli({"check", "--severity", "critical"}).exit_code, 0);
  EXPECT_EQ(Cli({"check", "--severity", "warning"}).exit_code, 1);
}

TEST_F(SystemTest, HealthyConnectionHasNoFinding) {
  NetnsScenarioOptions options;
  options.server_fin_after = absl::ZeroDuration();
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  // Several intervals of a live, busy connection.
  absl::SleepFor(absl::Seconds(5));
  json all = Json({"findings", "--status", "all"});
  EXPECT_TRUE(all.value("findings", json::array()).empty()) << all.dump(2);
  EXPECT_EQ(Cli({"check", "--severity", "info"}).exit_code, 0);
  // The sockets are there, attributed to the client's node.
  json sockets = Json({"sockets", "--peer", scenario->server_address()});
  ASSERT_FALSE(sockets.value("sockets", json::array()).empty());
  EXPECT_EQ(sockets["sockets"][0].value("node", ""), kClientNode);
}

TEST_F(SystemTest, AddressTakenByAnotherNamespace) {
  NetnsScenarioOptions options;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  ASSERT_TRUE(scenario->Vanish().ok());
  ASSERT_FALSE(AwaitFinding("VANISHED_PEER").is_null());
  // Let the client's retransmission backoff grow, so that the new holder's
  // RST (it listens on nothing) comes seconds after it takes the address:
  // time for a snapshot to see the reassignment first.
  absl::SleepFor(absl::Seconds(5));
  ASSERT_TRUE(scenario->GiveServerAddressAway().ok());
  json finding = AwaitFinding("REASSIGNED_PEER", "", "all");
  ASSERT_FALSE(finding.is_null()) << Cli({"findings", "--status", "all"}).out;
  EXPECT_EQ(finding["socket"].value("remote_ip", ""),
            scenario->server_address());
  EXPECT_EQ(finding["peer_current_owner"].value("netns", ""),
            scenario->new_owner_netns());
  EXPECT_EQ(finding["peer_last_owner"].value("netns", ""),
            scenario->server_netns());
}

TEST_F(SystemTest, Ipv6ServerVanishes) {
  NetnsScenarioOptions options;
  options.ipv6 = true;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  ASSERT_TRUE(scenario->Vanish().ok());
  json finding = AwaitFinding("VANISHED_PEER", "CRITICAL");
  ExpectVanishedFinding(finding, *scenario, "CLOSE_WAIT");
}

// Connected UDP (issue 10): a syslog-like client connect()ed its datagram
// socket to the server and sends every 0.2 s, on after the server's host
// vanished (UDP says nothing): a WARNING VANISHED_PEER for that UDP socket,
// nothing at risk. The second client sends to the same server with
// sendto() only: its socket has no peer, is never reported and never a
// finding.
TEST_F(SystemTest, ConnectedUdpPeerVanishes) {
  NetnsScenarioOptions options;
  options.transport = Transport::kUdp;
  options.clients = 2;
  options.unconnected_clients = 1;
  options.server_fin_after = absl::ZeroDuration();
  options.write_interval = absl::Milliseconds(200);
  options.prefix = "gp-it-udp-";
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));
  ASSERT_NO_FATAL_FAILURE(AwaitClientState(*scenario, "ESTABLISHED"));
  int client_sockets = 0;
  for (const json& s : Json({"sockets", "--peer", scenario->server_address()})
                           .value("sockets", json::array())) {
    if (s.value("node", "") != kClientNode) continue;
    ++client_sockets;
    EXPECT_EQ(s.value("protocol", ""), "PROTOCOL_UDP") << s.dump(2);
    EXPECT_EQ(s.value("local_ip", ""), scenario->client_address(0))
        << "only the connected client is reported";
  }
  EXPECT_EQ(client_sockets, 1);
  EXPECT_TRUE(Json({"findings", "--status", "all"})
                  .value("findings", json::array())
                  .empty())
      << "the server lives";

  ASSERT_TRUE(scenario->Vanish().ok());
  const json finding = AwaitFinding("VANISHED_PEER");
  ASSERT_FALSE(finding.is_null()) << Cli({"findings", "--status", "all"}).out;
  EXPECT_EQ(finding.value("severity", ""), "WARNING") << finding.dump(2);
  const json& socket = finding["socket"];
  EXPECT_EQ(socket.value("protocol", ""), "PROTOCOL_UDP");
  EXPECT_EQ(socket.value("node", ""), kClientNode);
  EXPECT_EQ(socket.value("local_ip", ""), scenario->client_address(0));
  EXPECT_EQ(socket.value("remote_ip", ""), scenario->server_address());
  EXPECT_EQ(AsU64(socket["remote_port"]), scenario->server_port());
  EXPECT_EQ(AsU64(socket["pid"]),
            static_cast<uint64_t>(scenario->client_pid(0)));
  EXPECT_EQ(AsU64(finding.value("bytes_at_risk", json(0))), 0u)
      << "nothing acknowledges a datagram";
  EXPECT_EQ(finding["peer_last_owner"].value("netns", ""),
            scenario->server_netns());

  // A few more snapshots of both clients sending: still that one finding,
  // never CRITICAL, nothing for the unconnected client.
  absl::SleepFor(absl::Seconds(3));
  const std::vector<json> all =
      Json({"findings", "--status", "all"}).value("findings", json::array());
  EXPECT_EQ(all.size(), 1u) << Cli({"findings", "--status", "all"}).out;
  for (const json& f : all) {
    EXPECT_NE(f["socket"].value("local_ip", ""), scenario->client_address(1))
        << f.dump(2);
  }
  EXPECT_EQ(Cli({"check", "--severity", "critical"}).exit_code, 0);
  EXPECT_EQ(Cli({"check", "--severity", "warning"}).exit_code, 1);
}

TEST_F(SystemTest, AggregatorRestartLosesNothing) {
  NetnsScenarioOptions options;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));

  // The aggregator dies hard; the server vanishes while it is away, so the
  // detach exists only in the server node's journal.
  EXPECT_EQ(aggregator_->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(scenario->Vanish().ok());
  absl::SleepFor(absl::Seconds(3));
  StartAggregator();

  json finding = AwaitFinding("VANISHED_PEER", "CRITICAL", "open",
                              absl::Seconds(45));  // agents back off meanwhile
  ExpectVanishedFinding(finding, *scenario, "CLOSE_WAIT");
  // The history kept the interval from before the crash, now closed.
  json history = Json({"history", scenario->server_address()});
  bool closed_interval = false;
  for (const json& i : history.value("intervals", json::array())) {
    if (i.value("node", "") == kServerNode && i.contains("since") &&
        i.contains("until")) {
      closed_interval = true;
    }
  }
  EXPECT_TRUE(closed_interval) << history.dump(2);
}

// The web page in a real browser (issue 13): headless Chromium, driven by
// tests/integration/system/web_driver.py over the DevTools protocol, has the
// findings page open when the server vanishes; the finding appears without
// a reload, and the address page draws the owner's bar and the gap after
// it. Screenshots stay under the build directory (the paths are printed).
TEST_F(SystemTest, WebPageShowsTheFindingLiveInABrowser) {
  for (const char* needed : {"/usr/bin/chromium", "/usr/bin/python3"}) {
    ASSERT_EQ(access(needed, X_OK), 0)
        << needed << " is missing: run scripts/install-deps.sh";
  }
  NetnsScenarioOptions options;
  std::unique_ptr<NetnsScenario> scenario;
  ASSERT_NO_FATAL_FAILURE(Bring(options, &scenario));

  const std::string out = std::string(GHOSTPEER_ARTIFACT_DIR) + "/web";
  const std::string ready = dir_ + "/page-ready";
  auto driver =
      Process::Start({"/usr/bin/python3",
                      std::string(GHOSTPEER_SOURCE_DIR) +
                          "/tests/integration/system/web_driver.py",
                      "--base", absl::StrCat("http://127.0.0.1:", http_port_),
                      "--address", scenario->server_address(), "--out", out,
                      "--ready-file", ready, "--timeout", "150"},
                     dir_ + "/web_driver.log");
  ASSERT_TRUE(driver.ok()) << driver.status();
  ASSERT_TRUE(WaitFor(
      [&] { return std::filesystem::exists(ready) || !(*driver)->Running(); },
      absl::Seconds(60)))
      << (*driver)->Log();
  ASSERT_TRUE(std::filesystem::exists(ready)) << (*driver)->Log();

  ASSERT_TRUE(scenario->Vanish().ok());
  ASSERT_TRUE(
      WaitFor([&] { return !(*driver)->Running(); }, absl::Seconds(150)))
      << (*driver)->Log();
  const int exit_code = (*driver)->Stop();
  std::printf("%s", (*driver)->Log().c_str());
  EXPECT_EQ(exit_code, 0) << (*driver)->Log() << "\n"
                          << Cli({"findings", "--status", "all"}).out;
  EXPECT_TRUE(std::filesystem::exists(out + "/address.png"));
}

// With --token-file the page asks for the token once, through its form, in
// a real browser: the session cookie is HttpOnly and opens the API, a
// request without it is refused.
TEST_F(SystemTest, WebPageLogsInWithTheToken) {
  ASSERT_EQ(access("/usr/bin/chromium", X_OK), 0)
      << "chromium is missing: run scripts/install-deps.sh";
  const std::string token_file = dir_ + "/token";
  {
    std::FILE* f = std::fopen(token_file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("web-test-token-4f1c\n", f);
    std::fclose(f);
  }
  const int http_port = FreeLoopbackPort();
  ASSERT_GT(http_port, 0);
  const std::string base = absl::StrCat("http://127.0.0.1:", http_port);
  auto aggregator =
      Process::Start({kBin + "/ghostpeer-aggregator", "--listen",
                      absl::StrCat("127.0.0.1:", FreeLoopbackPort()), "--db",
                      ":memory:", "--token-file", token_file, "--http-listen",
                      absl::StrCat("127.0.0.1:", http_port)},
                     dir_ + "/aggregator-token.log");
  ASSERT_TRUE(aggregator.ok()) << aggregator.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return RunBinary({"/usr/bin/curl", "-sf", base + "/healthz"},
                         absl::Seconds(5))
                   .exit_code == 0;
      },
      absl::Seconds(10)))
      << (*aggregator)->Log();
  CommandResult driver = RunBinary(
      {"/usr/bin/python3",
       std::string(GHOSTPEER_SOURCE_DIR) +
           "/tests/integration/system/web_driver.py",
       "--base", base, "--out", std::string(GHOSTPEER_ARTIFACT_DIR) + "/web",
       "--token-file", token_file, "--timeout", "90"},
      absl::Seconds(120));
  std::printf("%s", driver.out.c_str());
  EXPECT_EQ(driver.exit_code, 0) << driver.out << driver.err;
}

}  // namespace
}  // namespace ghostpeer::testing
