// A tiny HTTP/1.1 server for /metrics, /healthz and /readyz, shared by the
// aggregator and the agent, which also carries the aggregator's web page
// (aggregator/web). It serves routes from a fixed table on its own threads;
// the HTTP library stays behind this header.
#ifndef GHOSTPEER_COMMON_HTTP_HTTP_SERVER_H_
#define GHOSTPEER_COMMON_HTTP_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http/metrics.h"

namespace httplib {
class Server;
}

namespace ghostpeer::http {

struct HttpRequest {
  std::string method;
  // Decoded path, without the query string.
  std::string path;
  // Query parameters (and, for a POSTed form, its fields), decoded; the
  // first value of a repeated name.
  std::map<std::string, std::string> params;
  // Request headers by lower-case name; the first of a repeated name.
  std::map<std::string, std::string> headers;

  // The parameter or header, or "" when absent.
  std::string Param(const std::string& name) const;
  std::string Header(const std::string& lower_case_name) const;
};

// Writes one piece of a streamed body; false once the client is gone.
using StreamWriter = std::function<bool(absl::string_view)>;
// Produces a streamed (chunked) body piece by piece. Called again and again
// on the request's thread while the client listens and the server runs;
// each call should write what is ready, waiting at most about a second (so
// Stop() is not held up), and return false to end the response.
using StreamBody = std::function<bool(const StreamWriter&)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers (Set-Cookie, Location, Content-Security-Policy, ...).
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is streamed from it instead of `body`.
  StreamBody stream;

  static HttpResponse Of(int status, std::string content_type,
                         std::string body) {
    HttpResponse response;
    response.status = status;
    response.content_type = std::move(content_type);
    response.body = std::move(body);
    return response;
  }
};

// `text` percent-encoded for a URL path or query value: every byte but
// [A-Za-z0-9._-] (and '/' when `keep_slash`) as %XX. Pure.
std::string PercentEncode(absl::string_view text, bool keep_slash = false);

// Runs on one of the server's threads, possibly concurrently with itself:
// must be thread-safe.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4 interfaces) into a
// host and a port in [0, 65535]. InvalidArgument otherwise. Pure.
absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(
    absl::string_view listen);

struct HttpServerOptions {
  // Where to listen; port 0 picks a free port (see HttpServer::port()).
  std::string listen = "127.0.0.1:0";
  // Request threads. Scrapes are rare and cheap: two is plenty.
  int threads = 2;
  // GET routes by exact path. Other paths answer 404, other methods 405.
  std::map<std::string, HttpHandler> routes;
  // POST routes by exact path (forms: their fields land in `params`).
  std::map<std::string, HttpHandler> post_routes;
  // Set: answers every GET that `routes` does not list (instead of 404);
  // it does its own routing and says 404 itself.
  HttpHandler fallback;
  // Set: other sockets with SO_REUSEPORT (replicas of this server) may
  // listen on the same port, and the kernel spreads connections among
  // them. Unset, a taken port is an error.
  bool share_port = false;
};

// Serves `options.routes` until Stop() or destruction. Thread-safe.
class HttpServer {
 public:
  // Binds synchronously (so a taken port is reported here, not later) and
  // starts serving on a background thread. InvalidArgument for a bad
  // listen address, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when the listen port was 0).
  int port() const { return port_; }
  const std::string& host() const { return host_; }

  // Stops accepting, finishes requests in flight, joins the threads.
  // Idempotent.
  void Stop();

 private:
  HttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
  bool stopped_ = false;
};

// Answers whether the process can do its job now; OK means ready. Called on
// every /readyz request, so it must be cheap and thread-safe.
using ReadinessCheck = std::function<absl::Status()>;

// The standard routes: /metrics renders `registry` (which must outlive the
// server), /healthz answers 200 "ok" while the process serves at all, and
// /readyz answers 200 "ready" or 503 with the check's message. A null
// `ready` means always ready.
std::map<std::string, HttpHandler> StandardRoutes(
    const metrics::Registry* registry, ReadinessCheck ready);

}  // namespace ghostpeer::http

#endif  // GHOSTPEER_COMMON_HTTP_HTTP_SERVER_H_
