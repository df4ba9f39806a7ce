// The aggregator's HTTP side against the real things: a Prometheus that
// scrapes /metrics and evaluates deploy/prometheus/ghostpeer-rules.yml, an
// Alertmanager that receives the pushed alerts, and a webhook receiver that
// fails before it accepts. Everything listens on 127.0.0.1, on free ports;
// every process is started and stopped by pid; temp dirs are removed.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/alerts/webhook.h"
#include "aggregator/engine.h"
#include "common/time_util.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/system/process.h"

#ifndef GHOSTPEER_RULES_FILE
#error "GHOSTPEER_RULES_FILE must name deploy/prometheus/ghostpeer-rules.yml"
#endif

namespace ghostpeer::aggregator::alerts {
namespace {

namespace fs = std::filesystem;
using ghostpeer::testing::FreeLoopbackPort;
using ghostpeer::testing::Process;
using ghostpeer::testing::WaitFor;

constexpr char kNode[] = "node-1";
constexpr char kInstance[] = "agent-instance-1";
constexpr char kServer[] = "10.99.0.2";

// docs/scenario.md's namespace recipe, as the agent would report it: gpx-srv
// held 10.99.0.2 and vanished; gpx-cli's logc is in CLOSE_WAIT to it with
// data queued and retransmissions backing off.
class Scenario {
 public:
  explicit Scenario(Engine* engine) : engine_(engine) {}

  void Vanish() {
    v1::Hello hello;
    hello.set_node(kNode);
    hello.set_agent_version("test");
    hello.set_agent_instance(kInstance);
    ASSERT_TRUE(engine_->Hello(hello).ok());
    const absl::Time now = absl::Now();
    v1::AddressEventBatch batch;
    for (int i = 0; i < 2; ++i) {
      v1::AddressEvent* event = batch.add_events();
      event->set_seq(i + 1);
      event->set_type(i == 0 ? v1::ATTACH : v1::DETACH);
      event->set_source(v1::OBSERVATION);
      *event->mutable_time() =
          ToProto(now - (i == 0 ? absl::Minutes(5) : absl::Minutes(2)));
      v1::AddressOwner* owner = event->mutable_owner();
      owner->set_kind(v1::OWNER_KIND_NETNS);
      owner->set_node(kNode);
      owner->set_netns("gpx-srv");
      owner->set_netns_inode(4026532700);
      owner->set_address(kServer);
      owner->set_network("eth0");
    }
    absl::StatusOr<uint64_t> stored =
        engine_->IngestAddressEvents(kNode, kInstance, batch);
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(*stored, 2u);
    Snapshot(/*with_client=*/true);
    Snapshot(/*with_client=*/true);
    v1::ListFindingsRequest open;
    open.set_status(v1::OPEN);
    const v1::ListFindingsResponse findings = engine_->ListFindings(open);
    ASSERT_EQ(findings.findings_size(), 1) << findings.DebugString();
    ASSERT_EQ(findings.findings(0).kind(), v1::VANISHED_PEER);
    ASSERT_EQ(findings.findings(0).severity(), v1::CRITICAL);
  }

  // The client socket goes away: the finding resolves.
  void ClientGone() { Snapshot(/*with_client=*/false); }

 private:
  void Snapshot(bool with_client) {
    v1::SocketSnapshot message;
    message.set_snapshot_id(++snapshot_id_);
    message.set_full(true);
    v1::NodeSnapshot* snapshot = message.mutable_snapshot();
    snapshot->set_node(kNode);
    snapshot->set_agent_version("test");
    *snapshot->mutable_taken_at() = ToProto(absl::Now());
    v1::NamespaceInfo* ns = snapshot->add_namespaces();
    ns->set_inode(4026532701);
    ns->set_netns_name("gpx-cli");
    ns->set_status(v1::NAMESPACE_STATUS_OK);
    v1::InterfaceAddress* address = ns->add_addresses();
    address->set_address("10.99.0.3");
    address->set_prefix_len(24);
    address->set_interface("eth0");
    if (with_client) {
      v1::SocketRecord* s = snapshot->add_sockets();
      s->set_node(kNode);
      s->set_netns_inode(4026532701);
      s->set_local_ip("10.99.0.3");
      s->set_local_port(43318);
      s->set_remote_ip(kServer);
      s->set_remote_port(27017);
      s->set_state(v1::TCP_STATE_CLOSE_WAIT);
      // Queued and stuck; the process does not write more: a
      // VANISHED_PEER (it would be the socket's only finding anyway).
      s->set_send_queue(720);
      s->set_inode(77001);
      s->set_pid(4242);
      s->set_comm("logc");
      s->set_source(v1::CAPTURE_SOURCE_SOCK_DIAG);
      s->set_peer_closed(true);
      v1::TcpInfo* info = s->mutable_tcp_info();
      info->set_backoff(4);
      info->set_unacked(1);
      info->set_retransmits(4);
      info->set_last_ack_recv_ms(200000);  // heard from before it vanished
      info->set_last_data_recv_ms(200000);
      info->set_bytes_acked(1000);
      info->set_rto_us(3264000);
    }
    absl::StatusOr<v1::Ack> ack =
        engine_->IngestSnapshot(kNode, kInstance, message, absl::Now());
    ASSERT_TRUE(ack.ok()) << ack.status();
  }

  Engine* const engine_;
  uint64_t snapshot_id_ = 0;
};

class AlertingIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat(
               "gp-alerts-it-", getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    EngineOptions options;
    options.db_path = (dir_ / "ghostpeer.db").string();
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    alerting_.reset();
    for (auto& process : processes_) process->Stop();
    processes_.clear();
    engine_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  AlertingOptions BaseOptions() const {
    AlertingOptions options;
    options.db_path = (dir_ / "ghostpeer.db").string();
    options.resend_interval = absl::Seconds(2);
    options.retry.backoff.initial = absl::Milliseconds(200);
    options.retry.backoff.max = absl::Seconds(1);
    return options;
  }

  void StartAlerting(AlertingOptions options) {
    auto alerting = Alerting::Start(std::move(options), engine_.get());
    ASSERT_TRUE(alerting.ok()) << alerting.status();
    alerting_ = std::move(*alerting);
  }

  // Starts `argv` with its log in the temp dir; stopped in TearDown.
  Process* Spawn(const std::vector<std::string>& argv, const std::string& log) {
    auto process = Process::Start(argv, (dir_ / log).string());
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return nullptr;
    processes_.push_back(std::move(*process));
    return processes_.back().get();
  }

  void Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
  }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Alerting> alerting_;
  std::vector<std::unique_ptr<Process>> processes_;
};

nlohmann::json GetJson(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  client.set_read_timeout(3);
  auto response = client.Get(path.c_str());
  if (!response || response->status != 200) return nullptr;
  return nlohmann::json::parse(response->body, nullptr,
                               /*allow_exceptions=*/false);
}

TEST_F(AlertingIntegrationTest, PrometheusScrapesAndTheRuleFires) {
  const std::string prometheus = "/usr/bin/prometheus";
  if (access(prometheus.c_str(), X_OK) != 0) {
    GTEST_SKIP() << prometheus
                 << " missing: scripts/install-deps.sh installs it";
  }
  AlertingOptions options = BaseOptions();
  options.http_listen = "127.0.0.1:0";
  StartAlerting(options);
  const int metrics_port = alerting_->http_port();
  ASSERT_GT(metrics_port, 0);
  Scenario scenario(engine_.get());
  ASSERT_NO_FATAL_FAILURE(scenario.Vanish());

  const int port = FreeLoopbackPort();
  Write("prometheus.yml",
        absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: "
                     "1s\nrule_files:\n  - ",
                     GHOSTPEER_RULES_FILE,
                     "\nscrape_configs:\n  - job_name: ghostpeer-aggregator\n"
                     "    static_configs:\n      - targets: ['127.0.0.1:",
                     metrics_port, "']\n"));
  Process* process =
      Spawn({prometheus,
             absl::StrCat("--config.file=", (dir_ / "prometheus.yml").string()),
             absl::StrCat("--storage.tsdb.path=", (dir_ / "tsdb").string()),
             absl::StrCat("--web.listen-address=127.0.0.1:", port),
             "--log.level=warn"},
            "prometheus.log");
  ASSERT_NE(process, nullptr);

  nlohmann::json firing;
  const bool fired = WaitFor(
      [&] {
        nlohmann::json alerts = GetJson(port, "/api/v1/alerts");
        if (alerts.is_discarded() || alerts.is_null()) return false;
        for (const auto& alert : alerts["data"]["alerts"]) {
          if (alert["labels"]["alertname"] == "GhostPeerVanishedPeer" &&
              alert["state"] == "firing") {
            firing = alert;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(60), absl::Milliseconds(500));
  ASSERT_TRUE(fired) << "GhostPeerVanishedPeer never fired; prometheus log:\n"
                     << process->Log();
  EXPECT_EQ(firing["labels"]["severity"], "critical");
  EXPECT_EQ(firing["labels"]["kind"], "VANISHED_PEER");

  // The scrape itself is healthy and carries the finding's bytes.
  nlohmann::json bytes =
      GetJson(port, "/api/v1/query?query=ghostpeer_bytes_at_risk");
  ASSERT_FALSE(bytes.is_null());
  ASSERT_FALSE(bytes["data"]["result"].empty()) << bytes.dump();
  EXPECT_EQ(bytes["data"]["result"][0]["metric"]["service"], "_none");
}

TEST_F(AlertingIntegrationTest, AlertmanagerShowsTheAlertThenItResolves) {
  const std::string binary = "/usr/bin/prometheus-alertmanager";
  if (access(binary.c_str(), X_OK) != 0) {
    GTEST_SKIP() << binary << " missing: scripts/install-deps.sh installs it";
  }
  const int port = FreeLoopbackPort();
  Write("alertmanager.yml",
        "route:\n  receiver: blackhole\n  group_wait: 1s\n"
        "receivers:\n  - name: blackhole\n");
  Process* process = Spawn(
      {binary,
       absl::StrCat("--config.file=", (dir_ / "alertmanager.yml").string()),
       absl::StrCat("--storage.path=", (dir_ / "am").string()),
       absl::StrCat("--web.listen-address=127.0.0.1:", port),
       // No gossip: an empty cluster address turns clustering off.
       "--cluster.listen-address=", "--log.level=warn"},
      "alertmanager.log");
  ASSERT_NE(process, nullptr);
  ASSERT_TRUE(
      WaitFor([&] { return !GetJson(port, "/api/v2/status").is_null(); },
              absl::Seconds(30)))
      << "alertmanager did not start:\n"
      << process->Log();

  AlertingOptions options = BaseOptions();
  options.alertmanager_url = absl::StrCat("http://127.0.0.1:", port);
  StartAlerting(options);
  Scenario scenario(engine_.get());
  ASSERT_NO_FATAL_FAILURE(scenario.Vanish());

  auto ours = [&]() -> nlohmann::json {
    nlohmann::json alerts = GetJson(port, "/api/v2/alerts");
    if (!alerts.is_array()) return nullptr;
    for (const auto& alert : alerts) {
      if (alert["labels"]["alertname"] == "GhostPeerVanishedPeer") return alert;
    }
    return nullptr;
  };
  nlohmann::json alert;
  ASSERT_TRUE(WaitFor(
      [&] {
        alert = ours();
        return !alert.is_null();
      },
      absl::Seconds(30)))
      << "the alert never reached Alertmanager:\n"
      << process->Log();
  EXPECT_EQ(alert["labels"]["kind"], "VANISHED_PEER");
  EXPECT_EQ(alert["labels"]["severity"], "critical");
  EXPECT_EQ(alert["labels"]["node"], kNode);
  EXPECT_EQ(alert["labels"]["finding_id"].get<std::string>().size(), 16u);
  const std::string summary = alert["annotations"]["summary"];
  EXPECT_TRUE(absl::StrContains(summary, "is writing to 10.99.0.2:27017"))
      << summary;
  EXPECT_TRUE(absl::StrContains(summary, "which belonged to netns gpx-srv"))
      << summary;
  EXPECT_EQ(alert["status"]["state"], "active");

  // Re-asserted every resend interval: still there after several.
  absl::SleepFor(absl::Seconds(5));
  ASSERT_FALSE(ours().is_null());

  scenario.ClientGone();
  // Alertmanager lists only alerts whose endsAt has not passed: a resolved
  // alert leaves the list.
  EXPECT_TRUE(WaitFor([&] { return ours().is_null(); }, absl::Seconds(30)))
      << "the alert never resolved: " << ours().dump();
}

// A receiver on loopback that answers 500 to the first `failures` requests.
class WebhookReceiver {
 public:
  struct Request {
    std::string body, signature, event, delivery;
  };
  explicit WebhookReceiver(int failures) : failures_(failures) {
    server_.Post("/hook", [this](const httplib::Request& req,
                                 httplib::Response& res) {
      absl::MutexLock lock(&mu_);
      requests_.push_back({req.body,
                           req.get_header_value("X-Ghostpeer-Signature"),
                           req.get_header_value("X-Ghostpeer-Event"),
                           req.get_header_value("X-Ghostpeer-Delivery")});
      res.status = static_cast<int>(requests_.size()) <= failures_ ? 500 : 200;
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    WaitFor([this] { return server_.is_running(); }, absl::Seconds(5),
            absl::Milliseconds(5));
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<Request> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  const int failures_;
  mutable absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

TEST_F(AlertingIntegrationTest, WebhookRetriesSignsAndSurvivesRestart) {
  WebhookReceiver receiver(/*failures=*/2);
  ASSERT_GT(receiver.port(), 0);
  Write("secret", "integration-secret\n");
  AlertingOptions options = BaseOptions();
  options.webhook_urls = {
      absl::StrCat("http://127.0.0.1:", receiver.port(), "/hook")};
  options.webhook_secret_file = (dir_ / "secret").string();
  StartAlerting(options);
  Scenario scenario(engine_.get());
  ASSERT_NO_FATAL_FAILURE(scenario.Vanish());

  ASSERT_TRUE(WaitFor([&] { return receiver.requests().size() >= 3; },
                      absl::Seconds(20)));
  std::vector<WebhookReceiver::Request> got = receiver.requests();
  for (const auto& request : got) {
    EXPECT_EQ(request.event, "OPENED");
    EXPECT_EQ(request.delivery, got[0].delivery);  // one delivery, retried
    EXPECT_EQ(request.signature,
              "sha256=" + HmacSha256Hex("integration-secret", request.body));
  }
  const nlohmann::json body = nlohmann::json::parse(got[2].body);
  EXPECT_EQ(body["event"], "OPENED");
  EXPECT_EQ(body["finding"]["kind"], "VANISHED_PEER");
  EXPECT_EQ(body["finding"]["socket"]["remote_ip"], kServer);
  EXPECT_EQ(body["finding"]["socket"]["comm"], "logc");
  EXPECT_EQ(body["finding"]["peer_last_owner"]["netns"], "gpx-srv");

  // The aggregator's alerting stops; meanwhile the finding resolves.
  alerting_->Stop();
  alerting_.reset();
  scenario.ClientGone();
  StartAlerting(options);  // same database

  ASSERT_TRUE(WaitFor([&] { return receiver.requests().size() >= 4; },
                      absl::Seconds(20)))
      << "the resolution was lost across the restart";
  absl::SleepFor(absl::Seconds(3));  // longer than a refresh: nothing more
  got = receiver.requests();
  ASSERT_EQ(got.size(), 4u) << "a notification was repeated";
  EXPECT_EQ(got[3].event, "RESOLVED");
  EXPECT_EQ(got[3].signature,
            "sha256=" + HmacSha256Hex("integration-secret", got[3].body));
  EXPECT_EQ(nlohmann::json::parse(got[3].body)["finding"]["status"],
            "RESOLVED");
  alerting_.reset();  // before the receiver goes
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
