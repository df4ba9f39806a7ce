// The seed failure on a real single-node swarm, caught by the deployed
// ghostpeer stack (issue 4). Needs root, dockerd and an active swarm
// (scripts/docker-up.sh); skipped with the reason elsewhere, but never in CI.
//
// The suite deploys the stack with deploy/up.sh --remediation (idempotent;
// the aggregator in --remediation auto, agents that act on orders), then
// drives services named gp-e2e-* and removes them when it ends, and puts
// the base deployment (no remediation) back.
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/system/json_number.h"
#include "tests/integration/system/process.h"

namespace ghostpeer::testing {
namespace {

using nlohmann::json;

const std::string kSource = GHOSTPEER_SOURCE_DIR;
const std::string kCli = std::string(GHOSTPEER_BIN_DIR) + "/ghostpeer";
const std::string kNet = "gp-e2e-net";
const std::string kServer = "gp-e2e-srv";
const std::string kClient = "gp-e2e-cli";
const std::string kHealthyServer = "gp-e2e-live-srv";
const std::string kHealthyClient = "gp-e2e-live-cli";
const std::string kRemediatedServer = "gp-e2e-rm-srv";
const std::string kRemediatedClient = "gp-e2e-rm-cli";
// A server that closes its write side at once (its clients go CLOSE_WAIT).
const std::string kFinServer =
    "sh -c 'while true; do nc -l -p 27017 >/dev/null </dev/null; done'";

CommandResult Sh(const std::string& command,
                 absl::Duration timeout = absl::Seconds(120)) {
  return RunBinary({"/bin/bash", "-c", command}, timeout);
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

json Findings(const std::string& status = "all") {
  CommandResult result =
      RunBinary({kCli, "findings", "-o", "json", "--status", status});
  if (result.exit_code != 0) return json::object();
  json parsed = json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json::object() : parsed;
}

// Findings the aggregator already had when the suite began (its history
// survives on a volume between runs on one machine): not this run's.
std::set<std::string>& EarlierFindingIds() {
  static auto* ids = new std::set<std::string>();
  return *ids;
}

// This run's finding about `client_service`'s socket of `kind`, or null.
json FindingFor(const std::string& client_service, const std::string& kind,
                const std::string& status = "all") {
  json findings = Findings(status);
  if (!findings.contains("findings")) return nullptr;
  for (const json& finding : findings["findings"]) {
    if (EarlierFindingIds().count(finding.value("id", "")) != 0) continue;
    if (finding.value("kind", "") == kind &&
        finding["socket"].value("service", "") == client_service) {
      return finding;
    }
  }
  return nullptr;
}

std::string TaskAddress(const std::string& service) {
  // The running task's address on kNet, from the task's network attachments.
  CommandResult result = Sh(absl::StrCat(
      "docker inspect --format '{{range .NetworksAttachments}}{{if eq "
      ".Network.Spec.Name \"",
      kNet,
      "\"}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}' "
      "$(docker service ps -q --filter desired-state=running ",
      service, " | head -1)"));
  std::string address(absl::StripAsciiWhitespace(result.out));
  return address.substr(0, address.find('/'));
}

// The virtual IP of `service` on kNet ("10.0.1.2"), or "" without one.
std::string ServiceVip(const std::string& service) {
  CommandResult result = Sh(absl::StrCat(
      "net=$(docker network inspect --format '{{.Id}}' ", kNet,
      ") && docker service inspect --format '{{range "
      ".Endpoint.VirtualIPs}}{{.NetworkID}} {{.Addr}}{{\"\\n\"}}{{end}}' ",
      service, " | awk -v net=\"$net\" '$1 == net { print $2 }'"));
  std::string address(absl::StripAsciiWhitespace(result.out));
  return address.substr(0, address.find('/'));
}

// Whether ghostpeer reports a socket of `client_service` established to
// `peer`:27017.
bool HasEstablishedSocket(const std::string& client_service,
                          const std::string& peer) {
  CommandResult sockets =
      RunBinary({kCli, "sockets", "--peer", peer, "-o", "json"});
  if (sockets.exit_code != 0) return false;
  json parsed = json::parse(sockets.out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return false;
  for (const json& s : parsed.value("sockets", json::array())) {
    if (s.value("service", "") == client_service &&
        AsU64(s["remote_port"]) == 27017u &&
        s.value("state", "").find("ESTABLISHED") != std::string::npos) {
      return true;
    }
  }
  return false;
}

class SwarmE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (Sh("docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active")
            .exit_code != 0) {
      skip_reason_ =
          "no running dockerd with an active swarm (scripts/docker-up.sh)";
      return;
    }
    CleanUp();
    CommandResult up = Sh(absl::StrCat("BUILD_DIR=", GHOSTPEER_BUILD_DIR, " ",
                                       kSource, "/deploy/up.sh --remediation"),
                          absl::Minutes(8));
    ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
    json earlier = Findings();
    for (const json& finding : earlier.value("findings", json::array())) {
      EarlierFindingIds().insert(finding.value("id", ""));
    }
    CommandResult image = Sh(kSource + "/deploy/demo/build-image.sh");
    ASSERT_EQ(image.exit_code, 0) << image.err;
    ASSERT_EQ(
        Sh("docker network create -d overlay --attachable " + kNet).exit_code,
        0);
  }

  static void TearDownTestSuite() {
    if (!skip_reason_.empty()) return;
    CleanUp();
    // A remediating stack must not outlive the suite. Its agent sees every
    // network namespace of this machine's one kernel as its node's: those
    // of Docker-in-Docker nodes too (the cluster e2e runs next in CI), and
    // it destroyed their ghost sockets before the cluster's own ghostpeer
    // could report them. Put the base deployment back (no CAP_NET_ADMIN,
    // aggregator in dry-run), or remove the stack if that fails.
    CommandResult base = Sh(absl::StrCat("BUILD_DIR=", GHOSTPEER_BUILD_DIR, " ",
                                         kSource, "/deploy/up.sh"),
                            absl::Minutes(8));
    if (base.exit_code != 0) {
      ADD_FAILURE() << "could not put the base deployment back: " << base.out
                    << base.err;
      (void)Sh(kSource + "/deploy/down.sh", absl::Minutes(2));
    }
  }

  static void CleanUp() {
    (void)Sh(absl::StrCat("docker service rm ", kServer, " ", kClient, " ",
                          kHealthyServer, " ", kHealthyClient, " ",
                          kHealthyServer, "-vip ", kHealthyClient, "-vip ",
                          kRemediatedServer, " ", kRemediatedClient,
                          " >/dev/null 2>&1; for i in $(seq 1 30); do docker "
                          "ps -q -f name=gp-e2e- | grep -q . || break; sleep "
                          "1; done; docker network rm ",
                          kNet, " >/dev/null 2>&1; true"));
  }

  void SetUp() override {
    if (!skip_reason_.empty()) {
      if (InCi()) FAIL() << "CI must run the e2e tests: " << skip_reason_;
      GTEST_SKIP() << skip_reason_;
    }
  }

  static void CreateService(const std::string& name, const std::string& args,
                            const std::string& command) {
    CommandResult created =
        Sh(absl::StrCat("docker service create -q --name ", name, " --network ",
                        kNet, " ", args, " gp-scenario:latest ", command));
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  // Restarts `server` (a new task on a new address) until `client` is
  // left writing to the old one, and sets the CRITICAL VANISHED_PEER
  // finding (with `status`) that names it, the address and how long the
  // finding took. Use with ASSERT_NO_FATAL_FAILURE.
  static void RestartUntilGhost(const std::string& server,
                                const std::string& client,
                                const std::string& status,
                                std::string* old_address_out, json* finding_out,
                                absl::Duration* time_to_finding_out) {
    // The restart: a new task on a new address. When swarm kills the old
    // server, its socket closes a few milliseconds before its network goes;
    // a client write that lands in between draws an RST, the client fails
    // loudly and reconnects (no ghost: nothing to find). That race is the
    // scenario's, not ghostpeer's (here one restart in three or so), so the
    // restart is retried; a write that misses it leaves the client writing to
    // a ghost, and then the finding must come.
    constexpr int kAttempts = 6;
    std::string old_address;
    json finding;
    absl::Duration time_to_finding;
    for (int attempt = 1; attempt <= kAttempts && finding.is_null();
         ++attempt) {
      old_address = TaskAddress(server);
      ASSERT_FALSE(old_address.empty());
      ASSERT_TRUE(WaitFor(
          [&] {
            CommandResult sockets = RunBinary(
                {kCli, "sockets", "--peer", old_address, "-o", "json"});
            if (sockets.exit_code != 0) return false;
            json parsed = json::parse(sockets.out, nullptr, false);
            if (parsed.is_discarded()) return false;
            for (const json& s : parsed.value("sockets", json::array())) {
              if (s.value("service", "") == client) return true;
            }
            return false;
          },
          absl::Seconds(60), absl::Seconds(1)))
          << "the client's socket to " << old_address << " never showed up";
      if (attempt == 1) {
        const json early = FindingFor(client, "VANISHED_PEER");
        EXPECT_TRUE(early.is_null())
            << "no finding while the server lives (at " << old_address
            << "): " << early.dump(2) << "\nhistory of its peer: "
            << RunBinary({kCli, "history",
                          early.is_null()
                              ? old_address
                              : early["socket"].value("remote_ip", ""),
                          "-o", "json"})
                   .out;
      }
      const absl::Time restarted = absl::Now();
      ASSERT_EQ(Sh("docker service update -q --force " + server).exit_code, 0);
      WaitFor(
          [&] {
            json candidate = FindingFor(client, "VANISHED_PEER", status);
            if (candidate.is_null() ||
                candidate.value("severity", "") != "CRITICAL" ||
                candidate["socket"].value("remote_ip", "") != old_address) {
              return false;
            }
            finding = candidate;
            return true;
          },
          absl::Seconds(40), absl::Seconds(1));
      time_to_finding = absl::Now() - restarted;
      if (finding.is_null()) {
        // Expected: the client was reset, so its socket to the old address is
        // gone. One still there means ghostpeer missed a ghost.
        std::string left;
        CommandResult sockets =
            RunBinary({kCli, "sockets", "--peer", old_address, "-o", "json"});
        json parsed = json::parse(sockets.out, nullptr, false);
        if (!parsed.is_discarded()) {
          for (const json& s : parsed.value("sockets", json::array())) {
            if (s.value("service", "") != client) continue;
            absl::StrAppend(&left, " ", s.value("state", "?"), " send_queue ",
                            AsU64(s["send_queue"]));
          }
        }
        if (!left.empty()) {
          FAIL() << "the client still writes to " << old_address << " (" << left
                 << ") 40 s after the restart, and no critical "
                 << "VANISHED_PEER names it; findings: " << Findings().dump(2);
        }
        std::printf(
            "attempt %d: the client was reset by the dying server (no ghost); "
            "again\n",
            attempt);
      }
    }
    ASSERT_FALSE(finding.is_null())
        << "the client was reset at each of " << kAttempts
        << " restarts; findings: " << Findings().dump(2);
    *old_address_out = old_address;
    *finding_out = finding;
    *time_to_finding_out = time_to_finding;
  }

  static std::string skip_reason_;
};
std::string SwarmE2eTest::skip_reason_;

TEST_F(SwarmE2eTest, SeedFailureIsNamedThenResolves) {
  // A server that closes its write side at once (clients go CLOSE_WAIT) and
  // a client that writes every 100 ms; beside them a healthy pair whose
  // server keeps the connection open and never restarts.
  // The client's service opts out of remediation (the stack runs with it
  // on): this test follows the ghost it leaves until the client goes.
  CreateService(kServer, "--endpoint-mode dnsrr", kFinServer);
  CreateService(kClient, "--label ghostpeer.remediation=dry-run",
                "logc " + kServer + " 27017");
  // A task's stdin is /dev/null: nc alone would half-close at once, so a
  // pipe that never ends keeps the healthy server's write side open.
  CreateService(kHealthyServer, "--endpoint-mode dnsrr",
                "sh -c 'while true; do sleep 1000000 | nc -l -p 27017 "
                ">/dev/null; done'");
  CreateService(kHealthyClient, "", "logc " + kHealthyServer + " 27017");

  std::string old_address;
  json finding;
  absl::Duration time_to_finding;
  ASSERT_NO_FATAL_FAILURE(RestartUntilGhost(
      kServer, kClient, "open", &old_address, &finding, &time_to_finding));
  ASSERT_FALSE(finding.is_null());
  RecordProperty("seconds_from_restart_to_finding",
                 std::to_string(absl::ToDoubleSeconds(time_to_finding)));
  std::printf("restart -> finding: %.1f s\n",
              absl::ToDoubleSeconds(time_to_finding));
  EXPECT_LE(time_to_finding, absl::Seconds(30) + absl::Seconds(10))
      << "issue 4 wants it within 30 s (the update itself takes up to 10 s)";

  const json& socket = finding["socket"];
  EXPECT_EQ(socket.value("remote_ip", ""), old_address);
  EXPECT_EQ(AsU64(socket["remote_port"]), 27017u);
  EXPECT_EQ(socket.value("service", ""), kClient);
  EXPECT_FALSE(socket.value("task", "").empty());
  EXPECT_EQ(socket.value("container_id", "").size(), 64u);
  EXPECT_GT(AsU64(socket["pid"]), 0u);
  EXPECT_EQ(socket.value("comm", ""), "logc");
  const json& last_owner = finding["peer_last_owner"];
  EXPECT_EQ(last_owner.value("service", ""), kServer);
  EXPECT_FALSE(last_owner.value("until", "").empty()) << "when it left";
  EXPECT_GT(AsU64(finding["bytes_at_risk"]), 0u);
  EXPECT_EQ(RunBinary({kCli, "check", "--severity", "critical"}).exit_code, 1);

  // Controls: the healthy client has no finding of any kind.
  for (const char* kind :
       {"VANISHED_PEER", "REASSIGNED_PEER", "CLOSE_WAIT_WRITER"}) {
    EXPECT_TRUE(FindingFor(kHealthyClient, kind).is_null()) << kind;
  }

  // Restart the agents, then the aggregator: the finding is still reported
  // and the history still knows who held the old address.
  ASSERT_EQ(Sh("docker service update -q --force ghostpeer_agent").exit_code,
            0);
  ASSERT_EQ(
      Sh("docker service update -q --force ghostpeer_aggregator").exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] { return !FindingFor(kClient, "VANISHED_PEER", "open").is_null(); },
      absl::Seconds(60), absl::Seconds(1)))
      << "finding lost across agent and aggregator restarts";
  CommandResult history =
      RunBinary({kCli, "history", old_address, "-o", "json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_NE(history.out.find(kServer), std::string::npos)
      << "history forgot " << old_address << ": " << history.out;

  // The client goes away: the finding resolves.
  ASSERT_EQ(Sh("docker service rm " + kClient).exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        json resolved = FindingFor(kClient, "VANISHED_PEER", "resolved");
        return !resolved.is_null();
      },
      absl::Seconds(60), absl::Seconds(1)))
      << "finding did not resolve after the client left: "
      << Findings().dump(2);
}

// Remediation on a real service (issue 11): the seed failure again, with
// the aggregator in auto (deploy/up.sh --remediation). The client's agent
// destroys the ghost socket; logc's next write fails, it logs the error
// and reconnects to the server's new task.
TEST_F(SwarmE2eTest, RemediationEndsTheGhostAndTheClientReconnects) {
  CreateService(kRemediatedServer, "--endpoint-mode dnsrr", kFinServer);
  CreateService(kRemediatedClient, "", "logc " + kRemediatedServer + " 27017");
  std::string old_address;
  json finding;
  absl::Duration time_to_finding;
  // "all": once destroyed, the ghost's finding resolves at the client's
  // next snapshot.
  ASSERT_NO_FATAL_FAILURE(
      RestartUntilGhost(kRemediatedServer, kRemediatedClient, "all",
                        &old_address, &finding, &time_to_finding));
  ASSERT_FALSE(finding.is_null());
  const std::string id = finding.value("id", "");

  // The record: ordered by the policy, destroyed by the agent.
  json record;
  EXPECT_TRUE(WaitFor(
      [&] {
        CommandResult listed =
            RunBinary({kCli, "remediations", "--finding", id, "-o", "json"});
        json parsed = json::parse(listed.out, nullptr, false);
        if (listed.exit_code != 0 || parsed.is_discarded()) return false;
        for (const json& r : parsed.value("remediations", json::array())) {
          if (r.value("outcome", json::object()).value("outcome", "") ==
              "REMEDIATION_DESTROYED") {
            record = r;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(60), absl::Seconds(1)))
      << RunBinary({kCli, "remediations"}).out;
  EXPECT_EQ(record.value("decision", ""), "REMEDIATION_DECISION_ORDERED");
  EXPECT_EQ(record.value("mode", ""), "REMEDIATION_MODE_AUTO");
  EXPECT_EQ(record.value("socket", json::object()).value("remote_ip", ""),
            old_address);

  // The client's process saw the error and reconnected.
  std::string log;
  EXPECT_TRUE(WaitFor(
      [&] {
        log =
            Sh("docker service logs --raw " + kRemediatedClient + " 2>&1").out;
        return log.find("connected to " + kRemediatedServer + ":27017 again") !=
               std::string::npos;
      },
      absl::Seconds(30), absl::Seconds(1)))
      << log;
  EXPECT_NE(log.find("logc: write: Software caused connection abort"),
            std::string::npos)
      << "ECONNABORTED, the error SOCK_DESTROY gives: " << log;
}

TEST_F(SwarmE2eTest, VipClientIsNeverAGhost) {
  // Swarm VIPs need IPVS in the kernel; without it a VIP connection fails
  // outright (EHOSTUNREACH), so there is nothing to observe.
  if (Sh("test -e /proc/net/ip_vs || modprobe -n ip_vs 2>/dev/null")
          .exit_code != 0) {
    GTEST_SKIP() << "this kernel has no IPVS: swarm VIPs do not work here";
  }
  const std::string server = kHealthyServer + "-vip";
  const std::string client = kHealthyClient + "-vip";
  CreateService(server, "",
                "sh -c 'while true; do sleep 1000000 | nc -l -p 27017 "
                ">/dev/null; done'");
  CreateService(client, "", "logc " + server + " 27017");
  const std::string vip = ServiceVip(server);
  ASSERT_FALSE(vip.empty()) << "no VIP for " << server << " on " << kNet;

  // No finding proves nothing unless the client really is connected to the
  // VIP and ghostpeer sees it: a client that never connected has no socket
  // to judge. Wait for its established socket to the VIP, then watch it.
  ASSERT_TRUE(WaitFor([&] { return HasEstablishedSocket(client, vip); },
                      absl::Seconds(60), absl::Seconds(1)))
      << "ghostpeer never saw " << client << " connected to the VIP " << vip
      << ": " << RunBinary({kCli, "sockets", "--peer", vip, "-o", "json"}).out;
  absl::SleepFor(absl::Seconds(15));
  EXPECT_TRUE(HasEstablishedSocket(client, vip))
      << "the client did not stay connected while it was watched";
  for (const char* kind : {"VANISHED_PEER", "REASSIGNED_PEER"}) {
    EXPECT_TRUE(FindingFor(client, kind).is_null())
        << kind << ": " << FindingFor(client, kind).dump(2);
  }
  (void)Sh("docker service rm " + server + " " + client);
}

}  // namespace
}  // namespace ghostpeer::testing
