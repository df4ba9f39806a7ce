#include "aggregator/web/web_ui.h"

#include <sys/random.h>

#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "aggregator/query_service.h"
#include "aggregator/validation.h"
#include "aggregator/web/assets.h"
#include "common/credentials.h"
#include "common/proto_json.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

// Authentication, and why a form: the page is opened from alerts and
// bookmarks, so the token must not ride in the URL (`?token=` would land in
// browser history, proxy and server logs, and Referer headers). The login
// form POSTs it once; the answer is a random session id in a cookie that is
// HttpOnly (page scripts, and so injected ones, cannot read it),
// SameSite=Strict (other sites cannot make the browser use it) and expires;
// it is not the token, so a stolen cookie neither outlives the session nor
// opens the gRPC API. Scripts skip the form and send the bearer header, as
// the CLI does.

namespace ghostpeer::aggregator::web {
namespace {

constexpr char kCookieName[] = "ghostpeer_session";
constexpr char kJson[] = "application/json; charset=utf-8";
// No inline script or style anywhere: a string from a node that slipped
// into the markup still could not run.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'";

// Headers every answer carries.
void Harden(http::HttpResponse& response, bool cacheable) {
  response.headers.push_back({"X-Content-Type-Options", "nosniff"});
  response.headers.push_back(
      {"Content-Security-Policy", kContentSecurityPolicy});
  response.headers.push_back({"Referrer-Policy", "no-referrer"});
  response.headers.push_back({"X-Frame-Options", "DENY"});
  response.headers.push_back(
      {"Cache-Control", cacheable ? "no-cache" : "no-store"});
}

// A JSON string, with invalid UTF-8 from a node replaced rather than
// passed on.
std::string JsonError(absl::string_view message) {
  nlohmann::json body = {{"error", std::string(message)}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

http::HttpResponse Error(int status, absl::string_view message) {
  http::HttpResponse response =
      http::HttpResponse::Of(status, kJson, JsonError(message));
  Harden(response, false);
  return response;
}

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

http::HttpResponse Error(const absl::Status& status) {
  return Error(HttpStatusOf(status), status.message());
}

http::HttpResponse ProtoAnswer(const google::protobuf::Message& message) {
  http::HttpResponse response = http::HttpResponse::Of(200, kJson, "");
  AppendProtoJson(message, JsonLayout::kCompact, &response.body);
  response.body += "\n";
  Harden(response, false);
  return response;
}

http::HttpResponse AssetAnswer(const Asset& asset) {
  http::HttpResponse response = http::HttpResponse::Of(
      200, std::string(asset.content_type), std::string(asset.body));
  Harden(response, true);
  return response;
}

http::HttpResponse Redirect(const std::string& location) {
  http::HttpResponse response = http::HttpResponse::Of(
      303, "text/plain; charset=utf-8", "see " + location + "\n");
  response.headers.push_back({"Location", location});
  Harden(response, false);
  return response;
}

// Parses an enum query parameter by its proto name, case-insensitively and
// with or without the prefix the proto names carry ("warning", "WARNING").
template <typename Enum>
absl::Status ParseEnum(absl::string_view param, const std::string& value,
                       bool (*parse)(const std::string&, Enum*),
                       absl::string_view prefix, absl::string_view choices,
                       Enum* out) {
  std::string name = absl::AsciiStrToUpper(value);
  absl::StrReplaceAll({{"-", "_"}}, &name);
  if (!parse(name, out) && !parse(absl::StrCat(prefix, name), out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(param, " '", value, "': want ", choices));
  }
  if (static_cast<int>(*out) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(param, " '", value, "': want ", choices));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ListFindingsRequest> FindingFilter(
    const http::HttpRequest& request) {
  v1::ListFindingsRequest filter;
  filter.set_node(request.Param("node"));
  filter.set_service(request.Param("service"));
  if (std::string kind = request.Param("kind"); !kind.empty()) {
    v1::FindingKind parsed{};
    GHOSTPEER_RETURN_IF_ERROR(ParseEnum(
        "kind", kind, &v1::FindingKind_Parse, "",
        "VANISHED_PEER, REASSIGNED_PEER or CLOSE_WAIT_WRITER", &parsed));
    filter.set_kind(parsed);
  }
  if (std::string severity = request.Param("min_severity"); !severity.empty()) {
    v1::Severity parsed{};
    GHOSTPEER_RETURN_IF_ERROR(ParseEnum("min_severity", severity,
                                        &v1::Severity_Parse, "",
                                        "INFO, WARNING or CRITICAL", &parsed));
    filter.set_min_severity(parsed);
  }
  if (std::string status = request.Param("status");
      !status.empty() && absl::AsciiStrToLower(status) != "all") {
    v1::FindingStatus parsed{};
    GHOSTPEER_RETURN_IF_ERROR(ParseEnum("status", status,
                                        &v1::FindingStatus_Parse, "",
                                        "OPEN, RESOLVED or all", &parsed));
    filter.set_status(parsed);
  }
  GHOSTPEER_RETURN_IF_ERROR(ValidateFindingFilter(filter));
  return filter;
}

// "/next" when it is a path on this server; "/" for anything else (another
// origin, "//host", a scheme), so the login form cannot be made to send a
// person elsewhere.
std::string LocalPath(const std::string& next) {
  if (next.empty() || next[0] != '/' || absl::StartsWith(next, "//") ||
      absl::StrContains(next, "\\")) {
    return "/";
  }
  for (char c : next) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "/";
  }
  return next;
}

std::string CookieValue(const std::string& header, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

// The pages are one document: app.js draws the page the path names.
bool IsPagePath(absl::string_view path) {
  return path == "/" || path == "/findings" || path == "/nodes" ||
         absl::StartsWith(path, "/address/") ||
         absl::StartsWith(path, "/service/") ||
         absl::StartsWith(path, "/finding/");
}

}  // namespace

// One /api/v1/events stream: the Engine's listener queues changes, the
// HTTP thread writes them. Owned by the response's body callback; its
// destruction (the response done) unsubscribes.
struct WebUi::Stream {
  struct Queue {
    absl::Mutex mu;
    std::deque<v1::FindingEvent> events ABSL_GUARDED_BY(mu);
    bool overflowed ABSL_GUARDED_BY(mu) = false;
  };
  Engine* engine = nullptr;
  int subscription = 0;
  std::shared_ptr<Queue> queue = std::make_shared<Queue>();
  std::shared_ptr<std::atomic<size_t>> count;
  absl::Time last_write;
  bool ended = false;

  ~Stream() {
    if (subscription != 0) engine->Unsubscribe(subscription);
    count->fetch_sub(1);
  }
};

WebUi::WebUi(Engine* engine, WebUiOptions options)
    : engine_(engine),
      options_(std::move(options)),
      streams_(std::make_shared<std::atomic<size_t>>(0)) {}

WebUi::~WebUi() = default;

size_t WebUi::streams() const { return streams_->load(); }

void WebUi::AddRoutes(http::HttpServerOptions* server) {
  server->post_routes["/login"] = [this](const http::HttpRequest& request) {
    return Handle(request);
  };
  server->fallback = [this](const http::HttpRequest& request) {
    return Handle(request);
  };
}

std::string WebUi::NewSession() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    // getrandom(2) on Linux >= 3.17 fails only when interrupted.
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string id;
  for (unsigned char b : bytes) {
    absl::StrAppend(&id, absl::Hex(b, absl::kZeroPad2));
  }
  const absl::Time now = options_.clock->Now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second <= now ? sessions_.erase(it) : std::next(it);
  }
  while (!sessions_.empty() && sessions_.size() >= options_.max_sessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second < oldest->second) oldest = it;
    }
    sessions_.erase(oldest);
  }
  sessions_[id] = now + options_.session_lifetime;
  return id;
}

bool WebUi::Authorized(const http::HttpRequest& request) {
  if (options_.token.empty()) return true;
  std::string bearer = request.Header("authorization");
  if (absl::StartsWithIgnoreCase(bearer, "bearer ")) {
    return ConstantTimeEquals(
        std::string(absl::StripAsciiWhitespace(bearer.substr(7))),
        options_.token);
  }
  const std::string session =
      CookieValue(request.Header("cookie"), kCookieName);
  if (session.empty()) return false;
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  if (it->second <= options_.clock->Now()) {
    sessions_.erase(it);
    return false;
  }
  return true;
}

http::HttpResponse WebUi::Login(const http::HttpRequest& request) {
  const std::string next = LocalPath(request.Param("next"));
  const std::string token = request.Param("token");
  if (options_.token.empty()) return Redirect(next);
  if (token.empty() || !ConstantTimeEquals(token, options_.token)) {
    // Back to the form, which says the token was wrong; never the token.
    return Redirect(
        absl::StrCat("/login?failed=1&next=",
                     http::PercentEncode(next, /*keep_slash=*/true)));
  }
  std::string session;
  {
    absl::MutexLock lock(&mu_);
    session = NewSession();
  }
  http::HttpResponse response = Redirect(next);
  response.headers.push_back(
      {"Set-Cookie",
       absl::StrCat(kCookieName, "=", session,
                    "; Path=/; HttpOnly; SameSite=Strict; Max-Age=",
                    absl::ToInt64Seconds(options_.session_lifetime),
                    absl::StartsWith(options_.external_url, "https://")
                        ? "; Secure"
                        : "")});
  return response;
}

http::HttpResponse WebUi::Handle(const http::HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/login") {
    if (request.method == "POST") return Login(request);
    if (!get) return Error(405, "use GET or POST");
    if (options_.token.empty()) return Redirect("/");
    return AssetAnswer(*FindAsset("login.html"));
  }
  if (!get) return Error(405, absl::StrCat(request.method, " not allowed"));
  // The files hold no data: the login page needs them before any session.
  if (absl::string_view name = path; absl::ConsumePrefix(&name, "/assets/")) {
    const Asset* asset = FindAsset(name);
    if (asset == nullptr || name == "login.html" || name == "index.html") {
      return Error(404, "no such asset");
    }
    return AssetAnswer(*asset);
  }
  const bool api = absl::StartsWith(path, "/api/");
  if (!api && !IsPagePath(path)) return Error(404, "no such page");
  if (!Authorized(request)) {
    if (api) {
      http::HttpResponse refused =
          Error(401,
                "this aggregator needs its token: send \"Authorization: Bearer "
                "<token>\", or log in at /login");
      refused.headers.push_back({"WWW-Authenticate", "Bearer"});
      return refused;
    }
    return Redirect(absl::StrCat(
        "/login?next=", http::PercentEncode(path, /*keep_slash=*/true)));
  }
  if (api) return Api(request, path);
  return AssetAnswer(*FindAsset("index.html"));
}

http::HttpResponse WebUi::Api(const http::HttpRequest& request,
                              absl::string_view path) {
  if (!absl::ConsumePrefix(&path, "/api/v1/")) {
    return Error(404, "unknown API version: this server speaks /api/v1/");
  }
  if (path == "findings") {
    absl::StatusOr<v1::ListFindingsRequest> filter = FindingFilter(request);
    if (!filter.ok()) return Error(filter.status());
    return ProtoAnswer(engine_->ListFindings(*filter));
  }
  if (absl::ConsumePrefix(&path, "findings/")) {
    if (path.empty() || absl::StrContains(path, '/')) {
      return Error(404, "want /api/v1/findings/<id>");
    }
    v1::ListFindingsResponse all = engine_->ListFindings({});
    for (const v1::Finding& finding : all.findings()) {
      if (finding.id() == path) return ProtoAnswer(finding);
    }
    return Error(404, absl::StrCat("no finding ", path,
                                   " (resolved ones leave after retention)"));
  }
  if (path == "sockets") {
    v1::ListSocketsRequest query;
    query.set_remote_ip(request.Param("remote_ip"));
    query.set_node(request.Param("node"));
    if (std::string state = request.Param("state"); !state.empty()) {
      v1::TcpState parsed{};
      if (absl::Status s = ParseEnum(
              "state", state, &v1::TcpState_Parse, "TCP_STATE_",
              "a TCP state such as ESTABLISHED or CLOSE_WAIT", &parsed);
          !s.ok()) {
        return Error(s);
      }
      query.set_state(parsed);
    }
    if (std::string limit = request.Param("limit"); !limit.empty()) {
      uint32_t parsed = 0;
      if (!absl::SimpleAtoi(limit, &parsed)) {
        return Error(400, absl::StrCat("limit '", limit,
                                       "': want a whole number (0: default)"));
      }
      query.set_limit(parsed);
    }
    if (absl::Status s = ValidateListSocketsRequest(&query); !s.ok()) {
      return Error(s);
    }
    return ProtoAnswer(engine_->ListSockets(query));
  }
  if (absl::ConsumePrefix(&path, "addresses/")) {
    absl::string_view address = path;
    if (!absl::ConsumeSuffix(&address, "/history") || address.empty() ||
        absl::StrContains(address, '/')) {
      return Error(404, "want /api/v1/addresses/<ip>/history");
    }
    v1::GetAddressHistoryRequest query;
    query.set_address(std::string(address));
    query.set_node(request.Param("node"));
    if (std::string at = request.Param("at"); !at.empty()) {
      absl::Time parsed;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, at, &parsed, &error)) {
        return Error(400, absl::StrCat("at '", at,
                                       "': want an RFC 3339 time such as "
                                       "2026-12-01T12:03:04Z"));
      }
      *query.mutable_at() = ToProto(parsed);
    }
    if (absl::Status s = ValidateAddressHistoryRequest(&query); !s.ok()) {
      return Error(s);
    }
    absl::StatusOr<v1::GetAddressHistoryResponse> history =
        engine_->GetAddressHistory(query);
    if (!history.ok()) return Error(history.status());
    return ProtoAnswer(*history);
  }
  if (path == "nodes") return ProtoAnswer(engine_->ListNodes());
  if (path == "events") return Events(request);
  return Error(404, absl::StrCat("no endpoint /api/v1/", path));
}

http::HttpResponse WebUi::Events(const http::HttpRequest& request) {
  absl::StatusOr<v1::ListFindingsRequest> filter = FindingFilter(request);
  if (!filter.ok()) return Error(filter.status());
  if (streams_->fetch_add(1) >= options_.max_streams) {
    streams_->fetch_sub(1);
    return Error(503, absl::StrCat("already ", options_.max_streams,
                                   " live streams; try again later"));
  }
  auto stream = std::make_shared<Stream>();
  stream->engine = engine_;
  stream->count = streams_;
  stream->last_write = options_.clock->Now();
  std::weak_ptr<Stream::Queue> weak = stream->queue;
  const size_t max_backlog = options_.max_stream_backlog;
  // Subscribe before listing, as WatchFindings does: nothing falls between
  // the two; a finding may come twice, which the page tolerates.
  stream->subscription = engine_->Subscribe(
      [weak, filter = *filter, max_backlog](const v1::FindingEvent& event) {
        if (!FindingMatches(filter, event.finding())) return;
        std::shared_ptr<Stream::Queue> queue = weak.lock();
        if (queue == nullptr) return;
        absl::MutexLock lock(&queue->mu);
        if (queue->events.size() >= max_backlog) {
          queue->overflowed = true;
        } else {
          queue->events.push_back(event);
        }
      });
  v1::ListFindingsRequest open = *filter;
  open.set_status(v1::OPEN);
  // Asked without the queue's lock held: the Engine calls listeners with its
  // own locks held, so the other order could deadlock against an ingest.
  v1::ListFindingsResponse current = engine_->ListFindings(open);
  {
    absl::MutexLock lock(&stream->queue->mu);
    std::deque<v1::FindingEvent> initial;
    for (const v1::Finding& finding : current.findings()) {
      v1::FindingEvent& event = initial.emplace_back();
      event.set_type(v1::OPENED);
      *event.mutable_finding() = finding;
    }
    stream->queue->events.insert(stream->queue->events.begin(), initial.begin(),
                                 initial.end());
  }

  // Exactly "text/event-stream", no parameters: the HTTP library gzips
  // other text types for browsers that accept it, and its compressor would
  // hold events back until a block filled.
  http::HttpResponse response =
      http::HttpResponse::Of(200, "text/event-stream", "");
  Harden(response, false);
  const Clock* clock = options_.clock;
  const absl::Duration keepalive = options_.keepalive;
  response.stream = [stream, clock,
                     keepalive](const http::StreamWriter& write) {
    if (stream->ended) return false;
    std::deque<v1::FindingEvent> events;
    bool overflowed = false;
    {
      Stream::Queue& queue = *stream->queue;
      absl::MutexLock lock(&queue.mu);
      // Wait a little for something to send, so the thread neither spins
      // nor holds the server's Stop() up for long.
      auto ready = [&queue]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue.mu) {
        return !queue.events.empty() || queue.overflowed;
      };
      queue.mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(1));
      events.swap(queue.events);
      overflowed = queue.overflowed;
    }
    std::string out;
    if (stream->last_write == absl::InfinitePast()) out = "retry: 3000\n\n";
    for (const v1::FindingEvent& event : events) {
      out += "event: finding\ndata: ";
      AppendProtoJson(event, JsonLayout::kCompact, &out);
      out += "\n\n";
    }
    if (overflowed) {
      out += "event: error\ndata: ";
      out += JsonError("this page fell too far behind; reload it");
      out += "\n";
      stream->ended = true;
    }
    const absl::Time now = clock->Now();
    if (out.empty() && now - stream->last_write >= keepalive) {
      out = ": keepalive\n\n";
    }
    if (out.empty()) return true;
    stream->last_write = now;
    return write(out) && !stream->ended;
  };
  // The first write says the stream is open, before any finding exists.
  stream->last_write = absl::InfinitePast();
  return response;
}

}  // namespace ghostpeer::aggregator::web
