#include "common/http/http_server.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/http/agent_metrics.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace ghostpeer::http {
namespace {

TEST(ParseListenAddressTest, Table) {
  struct Case {
    std::string name;
    std::string in;
    bool ok;
    std::string host;
    int port;
  };
  const std::vector<Case> cases = {
      {"ipv4", "127.0.0.1:9090", true, "127.0.0.1", 9090},
      {"port zero", "127.0.0.1:0", true, "127.0.0.1", 0},
      {"all interfaces", ":9464", true, "0.0.0.0", 9464},
      {"ipv6 bracketed", "[::1]:80", true, "::1", 80},
      {"ipv6 unbracketed", "::1:80", false, "", 0},
      {"no port", "localhost", false, "", 0},
      {"port too big", "127.0.0.1:70000", false, "", 0},
      {"port not a number", "127.0.0.1:http", false, "", 0},
  };
  for (const Case& c : cases) {
    auto got = ParseListenAddress(c.in);
    ASSERT_EQ(got.ok(), c.ok) << c.name << ": " << got.status();
    if (!c.ok) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << c.name;
      continue;
    }
    EXPECT_EQ(got->first, c.host) << c.name;
    EXPECT_EQ(got->second, c.port) << c.name;
  }
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gauge_ = registry_.AddGauge("ghostpeer_test_gauge", "A test gauge.");
    gauge_->Set({}, 7);
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.routes = StandardRoutes(&registry_, [this] { return ready_; });
    auto server = HttpServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(2);
    client_->set_read_timeout(5);
  }

  metrics::Registry registry_;
  metrics::GaugeFamily* gauge_ = nullptr;
  absl::Status ready_ = absl::OkStatus();
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, ServesMetricsHealthAndReadiness) {
  ASSERT_GT(server_->port(), 0);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            std::string(metrics::kExpositionContentType));
  EXPECT_TRUE(absl::StrContains(metrics->body, "ghostpeer_test_gauge 7\n"));

  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  auto ready = client_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  ready_ = absl::UnavailableError("store closed");
  auto not_ready = client_->Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_TRUE(absl::StrContains(not_ready->body, "store closed"));
}

TEST_F(HttpServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  auto missing = client_->Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto post = client_->Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(HttpServerTest, StopIsIdempotentAndRefusesNewConnections) {
  const int port = server_->port();
  server_->Stop();
  server_->Stop();
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/healthz"));
}

TEST(HttpServerStartTest, TakenPortIsUnavailable) {
  HttpServerOptions first_options;
  auto first = HttpServer::Start(first_options);
  ASSERT_TRUE(first.ok());
  HttpServerOptions second_options;
  second_options.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpServer::Start(second_options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(AgentMetricsTest, PublishesEveryReading) {
  metrics::Registry registry;
  AgentMetrics agent(&registry);
  AgentMetricsValues values;
  values.last_snapshot_duration = absl::Milliseconds(40);
  values.sockets = 120;
  values.namespaces_seen = 5;
  values.namespaces_failed = 1;
  values.translations_ok = true;
  values.translations = 12;
  values.translation_namespaces_failed = 0;
  values.ipvs_blackhole_namespaces = 2;
  values.buffered_events = 3;
  values.connected = true;
  const absl::Time now = absl::FromUnixSeconds(1000);
  values.last_ack = now - absl::Seconds(2);
  values.reconnects_total = 4;
  values.snapshots_sent_total = 3;
  values.remediations_total = {{"destroyed", 2}, {"refused", 1}};
  agent.Update(values, now);
  values.snapshots_sent_total = 5;
  agent.Update(values, now);
  const std::string text = registry.Render();
  const std::vector<std::string> want = {
      "ghostpeer_agent_snapshot_duration_seconds 0.04\n",
      "ghostpeer_agent_sockets 120\n",
      "ghostpeer_agent_namespaces_seen 5\n",
      "ghostpeer_agent_namespaces_failed 1\n",
      "ghostpeer_agent_translations_ok 1\n",
      "ghostpeer_agent_translations 12\n",
      "ghostpeer_agent_translation_namespaces_failed 0\n",
      "ghostpeer_agent_ipvs_blackhole_namespaces 2\n",
      "ghostpeer_agent_buffered_address_events 3\n",
      "ghostpeer_agent_connected 1\n",
      "ghostpeer_agent_last_ack_age_seconds 2\n",
      "ghostpeer_agent_reconnects_total 4\n",
      "ghostpeer_agent_snapshots_sent_total 5\n",
      "ghostpeer_agent_snapshot_seconds_count 5\n",
      "ghostpeer_agent_snapshot_seconds_bucket{le=\"0.04\"} 5\n",
      "ghostpeer_agent_remediations_total{outcome=\"destroyed\"} 2\n",
      "ghostpeer_agent_remediations_total{outcome=\"refused\"} 1\n",
  };
  for (const std::string& line : want) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\nin:\n" << text;
  }
}

}  // namespace
}  // namespace ghostpeer::http
