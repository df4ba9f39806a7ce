// The aggregator's web page (issue 13): a few HTML/CSS/JS files compiled
// into the binary (assets/, embedded by embed_assets.cmake) and the JSON
// endpoints they read, served on the --http-listen port beside /metrics.
//
// The JSON endpoints mirror the Query API and nothing more: each one makes
// the Engine call the gRPC service makes, after the same validation, and
// answers the response message as proto JSON (the CLI's `-o json` names):
//   GET /api/v1/findings?node=&service=&kind=&min_severity=&status=
//   GET /api/v1/findings/<id>
//   GET /api/v1/sockets?remote_ip=&node=&state=&limit=
//   GET /api/v1/addresses/<ip>/history?at=&node=
//   GET /api/v1/nodes
//   GET /api/v1/events?<findings filter>   server-sent events, WatchFindings
//
// With a cluster token configured every page and endpoint needs it: scripts
// send "Authorization: Bearer <token>"; browsers log in once through a form
// (POST /login) and get a session cookie instead (see web_ui.cc for why).
#ifndef GHOSTPEER_AGGREGATOR_WEB_WEB_UI_H_
#define GHOSTPEER_AGGREGATOR_WEB_WEB_UI_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "common/http/http_server.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::web {

struct WebUiOptions {
  // The cluster bearer token (--token-file); empty: no authentication.
  std::string token;
  // --external-url, e.g. https://ghostpeer.example.com; empty: unknown.
  // An https:// URL marks the session cookie Secure.
  std::string external_url;
  // How long a browser session lasts after login.
  absl::Duration session_lifetime = absl::Hours(12);
  // Sessions held at once; the oldest goes first past it.
  size_t max_sessions = 1000;
  // Live /api/v1/events streams at once: each holds one of the HTTP
  // server's threads, which must also be left for pages and /metrics.
  size_t max_streams = 16;
  // Finding changes one stream may have queued before it is ended as too
  // slow (QueryService's max_watch_backlog).
  size_t max_stream_backlog = 10000;
  // A stream that has written nothing for this long writes a comment, so a
  // client that went away is noticed and its thread freed.
  absl::Duration keepalive = absl::Seconds(2);
  const Clock* clock = Clock::Real();
};

// Thread-safe. `engine` must outlive it and every stream it serves (stop
// the HTTP server first).
class WebUi {
 public:
  WebUi(Engine* engine, WebUiOptions options);
  ~WebUi();
  WebUi(const WebUi&) = delete;
  WebUi& operator=(const WebUi&) = delete;

  // Adds the page's routes to a server's tables (its fallback answers the
  // page paths and /api/v1/*). `this` must outlive the server.
  void AddRoutes(http::HttpServerOptions* server);

  // One request, as the server would route it: GET and HEAD anything,
  // POST /login. Public for tests.
  http::HttpResponse Handle(const http::HttpRequest& request);

  // Live event streams now (tests).
  size_t streams() const;

 private:
  struct Stream;
  http::HttpResponse Login(const http::HttpRequest& request);
  // OK when the request carries the token or a live session.
  bool Authorized(const http::HttpRequest& request);
  http::HttpResponse Api(const http::HttpRequest& request,
                         absl::string_view path);
  http::HttpResponse Events(const http::HttpRequest& request);
  std::string NewSession() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Engine* const engine_;
  const WebUiOptions options_;
  mutable absl::Mutex mu_;
  // Session id -> expiry.
  std::map<std::string, absl::Time> sessions_ ABSL_GUARDED_BY(mu_);
  // Shared with the streams, which may end after the WebUi.
  std::shared_ptr<std::atomic<size_t>> streams_;
};

}  // namespace ghostpeer::aggregator::web

#endif  // GHOSTPEER_AGGREGATOR_WEB_WEB_UI_H_
