// The web page's routing and JSON endpoints (aggregator/web), over a real
// Engine fed like engine_test's, and once over a real HTTP server for the
// live events stream.
#include "aggregator/web/web_ui.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/web/assets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/eventually.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator::web {
namespace {

using ::ghostpeer::aggregator::testing::Attach;
using ::ghostpeer::aggregator::testing::Batch;
using ::ghostpeer::aggregator::testing::Container;
using ::ghostpeer::aggregator::testing::Delta;
using ::ghostpeer::aggregator::testing::Detach;
using ::ghostpeer::aggregator::testing::FakeClock;
using ::ghostpeer::aggregator::testing::Full;
using ::ghostpeer::aggregator::testing::HelloFrom;
using ::ghostpeer::aggregator::testing::Socket;
using ::ghostpeer::aggregator::testing::Stuck;
using ::ghostpeer::aggregator::testing::T;
using ::ghostpeer::testing::Eventually;
using nlohmann::json;
using ::testing::HasSubstr;

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");
constexpr char kToken[] = "s3cret-cluster-token";

http::HttpRequest Get(const std::string& path,
                      std::map<std::string, std::string> params = {}) {
  http::HttpRequest request;
  request.method = "GET";
  request.path = path;
  request.params = std::move(params);
  return request;
}

std::string HeaderOf(const http::HttpResponse& response,
                     const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

json Body(const http::HttpResponse& response) {
  json parsed = json::parse(response.body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << response.body;
  return parsed;
}

class WebUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.detector.confirmations = 1;
    options.clock = &clock_;
    options.retention = absl::Hours(1);
    options.db_path = ":memory:";
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  // node-2's server at 10.0.1.6 vanishes while node-1's client writes to
  // it: one open VANISHED_PEER finding. `comm` names the client process.
  void Vanish(const std::string& comm = "logc") {
    ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "srv-agent")).ok());
    ASSERT_TRUE(engine_->Hello(HelloFrom("node-1", "cli-agent")).ok());
    clock_.Set(T(10));
    ASSERT_TRUE(engine_
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(1), kServer)}))
                    .ok());
    clock_.Set(T(15));
    ASSERT_TRUE(engine_
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(1, T(15), {Client(0, comm)}), T(15))
                    .ok());
    clock_.Set(T(18));
    ASSERT_TRUE(engine_
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Detach(2, T(18), kServer)}))
                    .ok());
    clock_.Set(T(20));
    ASSERT_TRUE(
        engine_
            ->IngestSnapshot("node-1", "cli-agent",
                             Delta(2, 1, T(20), {Client(720, comm)}, {}), T(20))
            .ok());
    ASSERT_EQ(engine_->ListFindings({}).findings_size(), 1);
  }

  // The client socket goes away: the finding resolves.
  void Resolve() {
    clock_.Set(T(30));
    ASSERT_TRUE(engine_
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Delta(3, 1, T(30), {}, {Client(0, "")}),
                                     T(30))
                    .ok());
  }

  static v1::SocketRecord Client(uint32_t queue, const std::string& comm) {
    v1::SocketRecord socket = Socket(Stuck(queue));
    socket.set_comm(comm);
    socket.set_pid(4242);
    return socket;
  }

  std::unique_ptr<WebUi> Ui(std::string token = "") {
    WebUiOptions options;
    options.token = std::move(token);
    options.clock = &clock_;
    return std::make_unique<WebUi>(engine_.get(), options);
  }

  FakeClock clock_{T(0)};
  std::unique_ptr<Engine> engine_;
};

TEST_F(WebUiTest, FindingsAreTheQueryApisAsProtoJson) {
  ASSERT_NO_FATAL_FAILURE(Vanish());
  auto ui = Ui();
  http::HttpResponse response = ui->Handle(Get("/api/v1/findings"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.content_type, HasSubstr("application/json"));
  json body = Body(response);
  ASSERT_EQ(body["findings"].size(), 1u);
  const json& finding = body["findings"][0];
  EXPECT_EQ(finding["kind"], "VANISHED_PEER");
  EXPECT_EQ(finding["severity"], "CRITICAL");
  EXPECT_EQ(finding["bytes_at_risk"], "720");  // proto JSON: 64-bit as text
  EXPECT_EQ(finding["socket"]["remote_ip"], "10.0.1.6");
  EXPECT_EQ(finding["peer_last_owner"]["task"], "gpx-srv.1");
  EXPECT_THAT(finding["story"].get<std::string>(),
              HasSubstr("nobody holds it now"));

  // One finding by id, as alerts link to it.
  const std::string id = finding["id"];
  response = ui->Handle(Get("/api/v1/findings/" + id));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["id"], id);
  response = ui->Handle(Get("/api/v1/findings/no-such-id"));
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(Body(response)["error"].get<std::string>(),
              HasSubstr("no finding no-such-id"));
}

TEST_F(WebUiTest, FindingFiltersAreTheCliOnes) {
  ASSERT_NO_FATAL_FAILURE(Vanish());
  auto ui = Ui();
  struct Case {
    std::map<std::string, std::string> params;
    int status;
    size_t findings;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{"kind", "VANISHED_PEER"}}, 200, 1, ""},
      {{{"kind", "vanished_peer"}}, 200, 1, ""},
      {{{"kind", "CLOSE_WAIT_WRITER"}}, 200, 0, ""},
      {{{"min_severity", "critical"}}, 200, 1, ""},
      {{{"status", "resolved"}}, 200, 0, ""},
      {{{"status", "all"}}, 200, 1, ""},
      {{{"node", "node-1"}}, 200, 1, ""},
      {{{"node", "node-9"}}, 200, 0, ""},
      {{{"kind", "ghost"}}, 400, 0, "kind 'ghost': want VANISHED_PEER"},
      {{{"kind", "FINDING_KIND_UNSPECIFIED"}}, 400, 0, "kind"},
      {{{"min_severity", "loud"}}, 400, 0, "min_severity 'loud'"},
      {{{"status", "closed"}}, 400, 0, "status 'closed'"},
  };
  for (const Case& c : cases) {
    http::HttpResponse response = ui->Handle(Get("/api/v1/findings", c.params));
    const std::string name =
        c.params.begin()->first + "=" + c.params.begin()->second;
    ASSERT_EQ(response.status, c.status) << name << ": " << response.body;
    json body = Body(response);
    if (c.status == 200) {
      EXPECT_EQ(body["findings"].size(), c.findings) << name;
    } else {
      EXPECT_THAT(body["error"].get<std::string>(), HasSubstr(c.error)) << name;
    }
  }
}

TEST_F(WebUiTest, SocketsHistoryAndNodes) {
  ASSERT_NO_FATAL_FAILURE(Vanish());
  auto ui = Ui();
  http::HttpResponse response =
      ui->Handle(Get("/api/v1/sockets", {{"remote_ip", "10.0.1.6"}}));
  ASSERT_EQ(response.status, 200) << response.body;
  json sockets = Body(response);
  ASSERT_EQ(sockets["sockets"].size(), 1u);
  EXPECT_EQ(sockets["sockets"][0]["comm"], "logc");
  EXPECT_EQ(sockets["truncated"], false);

  response = ui->Handle(Get("/api/v1/addresses/10.0.1.6/history"));
  ASSERT_EQ(response.status, 200) << response.body;
  json history = Body(response);
  ASSERT_EQ(history["intervals"].size(), 1u);
  EXPECT_EQ(history["intervals"][0]["task"], "gpx-srv.1");
  EXPECT_TRUE(history["intervals"][0].contains("until"));

  response = ui->Handle(Get("/api/v1/nodes"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["nodes"].size(), 2u);
}

TEST_F(WebUiTest, BadPathsAndInputsSayWhatIsWrong) {
  auto ui = Ui();
  struct Case {
    http::HttpRequest request;
    int status;
    std::string error;
  };
  http::HttpRequest post = Get("/api/v1/findings");
  post.method = "POST";
  const std::vector<Case> cases = {
      {Get("/api/v1/sockets", {{"remote_ip", "10.0.1"}}), 400, "10.0.1"},
      {Get("/api/v1/sockets", {{"state", "DANCING"}}), 400, "state 'DANCING'"},
      {Get("/api/v1/sockets", {{"limit", "many"}}), 400, "limit 'many'"},
      {Get("/api/v1/addresses/not-an-ip/history"), 400, "not-an-ip"},
      {Get("/api/v1/addresses/10.0.1.6/history", {{"at", "yesterday"}}), 400,
       "at 'yesterday': want an RFC 3339 time"},
      {Get("/api/v1/addresses/10.0.1.6"), 404,
       "want /api/v1/addresses/<ip>/history"},
      {Get("/api/v1/addresses/a/b/history"), 404, "want /api/v1/addresses"},
      {Get("/api/v1/teapot"), 404, "no endpoint /api/v1/teapot"},
      {Get("/api/v2/findings"), 404, "this server speaks /api/v1/"},
      {Get("/etc/passwd"), 404, "no such page"},
      {Get("/assets/../index.html"), 404, "no such asset"},
      {Get("/assets/nothing.js"), 404, "no such asset"},
      {post, 405, "POST not allowed"},
  };
  for (const Case& c : cases) {
    http::HttpResponse response = ui->Handle(c.request);
    EXPECT_EQ(response.status, c.status) << c.request.path;
    json body = Body(response);
    EXPECT_THAT(body.value("error", ""), HasSubstr(c.error)) << c.request.path;
  }
}

TEST_F(WebUiTest, PagesAreOneDocumentWithTheSecurityHeaders) {
  auto ui = Ui();
  for (const std::string path :
       {"/", "/findings", "/nodes", "/address/10.0.1.6", "/service/db",
        "/finding/abc"}) {
    http::HttpResponse response = ui->Handle(Get(path));
    ASSERT_EQ(response.status, 200) << path;
    EXPECT_THAT(response.content_type, HasSubstr("text/html")) << path;
    EXPECT_EQ(response.body, FindAsset("index.html")->body) << path;
  }
  for (const std::string path : {"/", "/api/v1/nodes", "/assets/app.js"}) {
    http::HttpResponse response = ui->Handle(Get(path));
    EXPECT_EQ(HeaderOf(response, "X-Content-Type-Options"), "nosniff") << path;
    const std::string csp = HeaderOf(response, "Content-Security-Policy");
    EXPECT_THAT(csp, HasSubstr("script-src 'self'")) << path;
    EXPECT_THAT(csp, ::testing::Not(HasSubstr("unsafe-inline"))) << path;
  }
  EXPECT_THAT(ui->Handle(Get("/assets/app.js")).content_type,
              HasSubstr("text/javascript"));
  EXPECT_THAT(ui->Handle(Get("/assets/app.css")).content_type,
              HasSubstr("text/css"));
}

// The page puts node data in with textContent only, and its documents hold
// no inline script or handler the CSP would have to allow.
TEST_F(WebUiTest, TheAssetsNeverTurnDataIntoMarkup) {
  const std::string js(FindAsset("app.js")->body);
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML",
                           "document.write", "eval(", "new Function"}) {
    EXPECT_FALSE(absl::StrContains(js, sink)) << sink;
  }
  for (const char* page : {"index.html", "login.html"}) {
    const std::string html(FindAsset(page)->body);
    EXPECT_FALSE(absl::StrContains(html, "<script>")) << page;
    EXPECT_FALSE(absl::StrContains(html, " onclick=")) << page;
    EXPECT_FALSE(absl::StrContains(html, " style=")) << page;
  }
}

TEST_F(WebUiTest, HostileStringsStayStringsInTheJson) {
  const std::string hostile =
      "</script><img src=x onerror=alert(1)>\"\\\x01\xff";
  ASSERT_NO_FATAL_FAILURE(Vanish(hostile));
  auto ui = Ui();
  http::HttpResponse response = ui->Handle(Get("/api/v1/findings"));
  ASSERT_EQ(response.status, 200);
  json body = Body(response);  // parses: quotes, backslashes, controls escaped
  // Exactly what the Engine holds (it already made the bytes printable at
  // ingest), markup characters and all: the page shows it as text.
  const std::string comm = body["findings"][0]["socket"]["comm"];
  EXPECT_EQ(comm, engine_->ListFindings({}).findings(0).socket().comm());
  EXPECT_THAT(comm, HasSubstr("</script><img src=x onerror=alert(1)>\"\\"));
  // A hostile path comes back in an error message as a JSON string too.
  response = ui->Handle(Get("/api/v1/findings/\"<b>\xff"));
  EXPECT_EQ(response.status, 404);
  const std::string error = Body(response)["error"];
  EXPECT_THAT(error, HasSubstr("\"<b>"));
  EXPECT_THAT(error, HasSubstr("\xEF\xBF\xBD"));  // the invalid byte: U+FFFD
}

TEST_F(WebUiTest, WithATokenEverythingButTheLoginNeedsIt) {
  ASSERT_NO_FATAL_FAILURE(Vanish());
  auto ui = Ui(kToken);
  http::HttpResponse response = ui->Handle(Get("/api/v1/findings"));
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(HeaderOf(response, "WWW-Authenticate"), "Bearer");
  EXPECT_THAT(Body(response)["error"].get<std::string>(),
              HasSubstr("Authorization: Bearer"));
  // A page sends the person to the form, and back afterwards.
  response = ui->Handle(Get("/address/10.0.1.6"));
  EXPECT_EQ(response.status, 303);
  EXPECT_EQ(HeaderOf(response, "Location"), "/login?next=/address/10.0.1.6");
  EXPECT_EQ(ui->Handle(Get("/login")).status, 200);
  EXPECT_EQ(ui->Handle(Get("/assets/app.css")).status, 200);

  http::HttpRequest bearer = Get("/api/v1/findings");
  bearer.headers["authorization"] = absl::StrCat("Bearer ", kToken);
  EXPECT_EQ(ui->Handle(bearer).status, 200);
  bearer.headers["authorization"] = "Bearer wrong";
  EXPECT_EQ(ui->Handle(bearer).status, 401);
  bearer.headers["authorization"] = kToken;  // not a bearer header
  EXPECT_EQ(ui->Handle(bearer).status, 401);
}

TEST_F(WebUiTest, TheLoginFormExchangesTheTokenForASessionCookie) {
  auto ui = Ui(kToken);
  http::HttpRequest login = Get("/login");
  login.method = "POST";
  login.params = {{"token", "wrong"}, {"next", "/nodes"}};
  http::HttpResponse response = ui->Handle(login);
  EXPECT_EQ(response.status, 303);
  EXPECT_EQ(HeaderOf(response, "Location"), "/login?failed=1&next=/nodes");
  EXPECT_EQ(HeaderOf(response, "Set-Cookie"), "");

  login.params["token"] = kToken;
  response = ui->Handle(login);
  EXPECT_EQ(response.status, 303);
  EXPECT_EQ(HeaderOf(response, "Location"), "/nodes");
  const std::string cookie = HeaderOf(response, "Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(cookie, ::testing::Not(HasSubstr(kToken)));
  const std::string session = cookie.substr(0, cookie.find(';'));
  ASSERT_THAT(session, ::testing::StartsWith("ghostpeer_session="));

  http::HttpRequest api = Get("/api/v1/nodes");
  api.headers["cookie"] = "theme=dark; " + session;
  EXPECT_EQ(ui->Handle(api).status, 200);
  api.headers["cookie"] = "ghostpeer_session=0000";
  EXPECT_EQ(ui->Handle(api).status, 401);
  // Sessions end.
  api.headers["cookie"] = session;
  clock_.Set(T(0) + absl::Hours(13));
  EXPECT_EQ(ui->Handle(api).status, 401);

  // The form never sends anyone to another site.
  for (const std::string next :
       {"//evil.example/", "https://evil.example/", "\\\\evil", "nodes"}) {
    login.params["next"] = next;
    EXPECT_EQ(HeaderOf(ui->Handle(login), "Location"), "/") << next;
  }
}

TEST_F(WebUiTest, EventStreamsAreCapped) {
  WebUiOptions options;
  options.max_streams = 1;
  options.clock = &clock_;
  WebUi ui(engine_.get(), options);
  {
    http::HttpResponse first = ui.Handle(Get("/api/v1/events"));
    ASSERT_EQ(first.status, 200);
    ASSERT_TRUE(first.stream != nullptr);
    EXPECT_EQ(ui.streams(), 1u);
    http::HttpResponse second = ui.Handle(Get("/api/v1/events"));
    EXPECT_EQ(second.status, 503);
    EXPECT_THAT(Body(second)["error"].get<std::string>(),
                HasSubstr("already 1 live streams"));
  }
  EXPECT_EQ(ui.streams(), 0u);  // the response gone, its stream ended
  EXPECT_EQ(ui.Handle(Get("/api/v1/events", {{"kind", "x"}})).status, 400);
}

// Through a real HTTP server: the open finding arrives first, then its
// resolution as it happens, as server-sent events.
TEST_F(WebUiTest, EventsStreamFindingChangesLive) {
  ASSERT_NO_FATAL_FAILURE(Vanish());
  WebUiOptions options;
  options.token = kToken;
  options.keepalive = absl::Milliseconds(100);
  WebUi ui(engine_.get(), options);
  http::HttpServerOptions server_options;
  server_options.threads = 4;
  ui.AddRoutes(&server_options);
  auto server = http::HttpServer::Start(std::move(server_options));
  ASSERT_TRUE(server.ok()) << server.status();

  absl::Mutex mu;
  std::string received;
  bool stop = false;
  int status = 0;
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", (*server)->port());
    client.set_read_timeout(10);
    // As browsers ask: an event held in a compressor's buffer would never
    // arrive.
    httplib::Headers headers = {
        {"Authorization", absl::StrCat("Bearer ", kToken)},
        {"Accept-Encoding", "gzip, deflate, br"}};
    auto result = client.Get(
        "/api/v1/events", headers,
        [&](const httplib::Response& response) {
          absl::MutexLock lock(&mu);
          status = response.status;
          return true;
        },
        [&](const char* data, size_t length) {
          absl::MutexLock lock(&mu);
          received.append(data, length);
          return !stop;
        });
    (void)result;
  });
  auto has = [&](const std::string& text) {
    absl::MutexLock lock(&mu);
    return absl::StrContains(received, text);
  };
  EXPECT_TRUE(Eventually([&] { return has("\"type\":\"OPENED\""); }));
  EXPECT_TRUE(has("event: finding\ndata: {"));
  ASSERT_NO_FATAL_FAILURE(Resolve());
  EXPECT_TRUE(Eventually([&] { return has("\"type\":\"CLOSED\""); }));
  EXPECT_TRUE(has("\"status\":\"RESOLVED\""));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(status, 200);
    stop = true;
  }
  // The client leaves at its next read; the keepalive finds it gone.
  reader.join();
  EXPECT_TRUE(Eventually([&] { return ui.streams() == 0; }, absl::Seconds(20)));
  (*server)->Stop();
}

}  // namespace
}  // namespace ghostpeer::aggregator::web
