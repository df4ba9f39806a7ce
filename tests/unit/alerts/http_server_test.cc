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

// What the web page (aggregator/web) needs: its own routing for the paths
// the table does not list, query parameters, headers both ways, a POSTed
// form, and a streamed body.
TEST(HttpServerRoutingTest, FallbackParamsHeadersFormsAndStreams) {
  HttpServerOptions options;
  options.routes["/healthz"] = [](const HttpRequest&) {
    return HttpResponse::Of(200, "text/plain", "ok\n");
  };
  options.fallback = [](const HttpRequest& request) {
    HttpResponse response =
        HttpResponse::Of(request.path == "/echo" ? 200 : 404, "text/plain",
                         request.Param("q") + "|" + request.Header("x-who"));
    response.headers.push_back({"X-Seen", request.path});
    return response;
  };
  options.post_routes["/form"] = [](const HttpRequest& request) {
    return HttpResponse::Of(200, "text/plain", request.Param("token"));
  };
  options.routes["/stream"] = [](const HttpRequest&) {
    HttpResponse response = HttpResponse::Of(200, "text/event-stream", "");
    auto calls = std::make_shared<int>(0);
    response.stream = [calls](const StreamWriter& write) {
      ++*calls;
      return write(absl::StrCat("piece ", *calls, "\n")) && *calls < 3;
    };
    return response;
  };
  auto server = HttpServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_read_timeout(5);

  auto echo = client.Get("/echo?q=a%20b&q=second", {{"X-Who", "me"}});
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 200);
  EXPECT_EQ(echo->body, "a b|me");
  EXPECT_EQ(echo->get_header_value("X-Seen"), "/echo");
  auto other = client.Get("/other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  EXPECT_EQ(client.Get("/healthz")->body, "ok\n");

  auto form =
      client.Post("/form", "token=t%3Dx", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->body, "t=x");
  auto wrong_method = client.Get("/form");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405) << "the fallback had no page for it";
  auto put = client.Put("/form", "x", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);

  auto stream = client.Get("/stream");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->body, "piece 1\npiece 2\npiece 3\n");
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

TEST(HttpServerStartTest, ServersAskingToSharePortBothServeIt) {
  HttpServerOptions options;
  options.share_port = true;
  options.routes["/who"] = [](const HttpRequest&) {
    HttpResponse response;
    response.body = "replica";
    return response;
  };
  auto first = HttpServer::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  const int port = (*first)->port();
  options.listen = "127.0.0.1:" + std::to_string(port);
  auto second = HttpServer::Start(options);
  ASSERT_TRUE(second.ok()) << second.status();
  (*first)->Stop();
  httplib::Client client("127.0.0.1", port);
  auto answer = client.Get("/who");
  ASSERT_TRUE(answer) << "the remaining replica does not answer";
  EXPECT_EQ(answer->body, "replica");
}

TEST(HttpServerStartTest, SharedPortIsNotTakenFromAnExclusiveServer) {
  auto exclusive = HttpServer::Start(HttpServerOptions{});
  ASSERT_TRUE(exclusive.ok());
  HttpServerOptions options;
  options.share_port = true;
  options.listen = "127.0.0.1:" + std::to_string((*exclusive)->port());
  auto replica = HttpServer::Start(options);
  EXPECT_EQ(replica.status().code(), absl::StatusCode::kUnavailable);
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
  values.aggregator = "agg-1:7070";
  agent.Update(values, now);
  values.aggregator = "agg-2:7070";
  values.aggregator_failovers_total = 1;
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
      "ghostpeer_agent_aggregator_info{endpoint=\"agg-2:7070\"} 1\n",
      "ghostpeer_agent_aggregator_failovers_total 1\n",
  };
  for (const std::string& line : want) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\nin:\n" << text;
  }
  EXPECT_FALSE(absl::StrContains(text, "agg-1:7070"))
      << "the endpoint failed over from is not current any more:\n"
      << text;
}

}  // namespace
}  // namespace ghostpeer::http
