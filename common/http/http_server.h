// A tiny HTTP/1.1 server for /metrics, /healthz and /readyz, shared by the
// aggregator and the agent. It serves GET routes from a fixed table on its
// own threads; the HTTP library stays behind this header.
#ifndef GHOSTPEER_COMMON_HTTP_HTTP_SERVER_H_
#define GHOSTPEER_COMMON_HTTP_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

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
  std::string path;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

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
