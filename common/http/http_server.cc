#include "common/http/http_server.h"

#include <sys/socket.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/host_port.h"
#include "httplib.h"

namespace ghostpeer::http {
namespace {

std::string RegexQuote(absl::string_view path) {
  std::string quoted;
  for (char c : path) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' ||
        c == '_' || c == '-') {
      quoted += c;
    } else {
      quoted += '\\';
      quoted += c;
    }
  }
  return quoted;
}

HttpRequest ToRequest(const httplib::Request& req) {
  HttpRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [name, value] : req.params) {
    request.params.emplace(name, value);  // keeps the first
  }
  for (const auto& [name, value] : req.headers) {
    request.headers.emplace(absl::AsciiStrToLower(name), value);
  }
  return request;
}

httplib::Server::Handler Adapt(HttpHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req,
                                        httplib::Response& res) {
    HttpResponse response = handler(ToRequest(req));
    res.status = response.status;
    for (const auto& [name, value] : response.headers) {
      res.set_header(name.c_str(), value);
    }
    if (!response.stream) {
      res.set_content(std::move(response.body), response.content_type.c_str());
      return;
    }
    res.set_chunked_content_provider(
        response.content_type,
        [stream = std::move(response.stream)](size_t, httplib::DataSink& sink) {
          const bool more = stream([&sink](absl::string_view piece) {
            return sink.is_writable() && sink.write(piece.data(), piece.size());
          });
          if (!more) sink.done();
          return true;
        });
  };
}

}  // namespace

std::string PercentEncode(absl::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' ||
        (keep_slash && c == '/')) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 0xf];
    }
  }
  return encoded;
}

std::string HttpRequest::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::string HttpRequest::Header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? std::string() : it->second;
}

absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(
    absl::string_view listen) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(listen, PortUse::kListen);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address ", parsed.status().message()));
  }
  if (parsed->host.empty()) parsed->host = "0.0.0.0";
  return std::make_pair(parsed->host, static_cast<int>(parsed->port));
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options) {
  auto address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();
  std::unique_ptr<HttpServer> self(new HttpServer());
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *self->server_;

  const int threads = std::max(1, options.threads);
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  // Short keep-alive and read timeouts: a scraper that opens a connection
  // and goes quiet must not hold a request thread, nor delay Stop() long.
  server.set_keep_alive_timeout(2);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_payload_max_length(64 << 10);
  // The library's default adds SO_REUSEPORT, which would let a second
  // server bind a port already in use and silently split the scrapes:
  // only when asked to (replicas behind one port).
  server.set_socket_options([share_port = options.share_port](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (share_port) {
      setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
    }
  });

  // httplib matches paths as regular expressions; ours are exact.
  for (auto& [path, handler] : options.routes) {
    server.Get(RegexQuote(path), Adapt(handler));
  }
  for (auto& [path, handler] : options.post_routes) {
    server.Post(RegexQuote(path), Adapt(handler));
  }
  if (options.fallback) server.Get(".*", Adapt(options.fallback));
  // Anything the tables do not list: 404 for an unknown path, 405 for a
  // known path with a method it does not take.
  auto gets = std::make_shared<std::map<std::string, HttpHandler>>(
      std::move(options.routes));
  auto posts = std::make_shared<std::map<std::string, HttpHandler>>(
      std::move(options.post_routes));
  server.set_error_handler(
      [gets, posts](const httplib::Request& req, httplib::Response& res) {
        const bool get = req.method == "GET" || req.method == "HEAD";
        if (res.status == 404 && gets->count(req.path) > 0 && !get) {
          res.status = 405;
          res.set_header("Allow", "GET, HEAD");
        } else if (res.status == 404 && posts->count(req.path) > 0 &&
                   req.method != "POST") {
          res.status = 405;
          res.set_header("Allow", "POST");
        }
        if (res.body.empty()) {
          res.set_content(
              absl::StrCat(res.status, " ", req.method, " ", req.path, "\n"),
              "text/plain; charset=utf-8");
        }
      });

  const auto& [host, port] = *address;
  if (port == 0) {
    self->port_ = server.bind_to_any_port(host);
  } else {
    self->port_ = server.bind_to_port(host, port) ? port : -1;
  }
  if (self->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("http: cannot listen on ", options.listen,
                     " (address in use or not local)"));
  }
  self->host_ = host;
  self->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() only acts on a running server: wait until the accept loop runs,
  // so that a Stop() right after Start() cannot be lost.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!server.is_running() && self->thread_.joinable() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (!server.is_running()) {
    return absl::InternalError(
        absl::StrCat("http: server on ", options.listen, " did not start"));
  }
  return self;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // stop() closes the listening socket; listen_after_bind() then returns
  // even if it had not started its accept loop yet.
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, HttpHandler> StandardRoutes(
    const metrics::Registry* registry, ReadinessCheck ready) {
  std::map<std::string, HttpHandler> routes;
  routes["/metrics"] = [registry](const HttpRequest&) {
    HttpResponse response;
    response.content_type = std::string(metrics::kExpositionContentType);
    response.body = registry->Render();
    return response;
  };
  routes["/healthz"] = [](const HttpRequest&) {
    return HttpResponse::Of(200, "text/plain; charset=utf-8", "ok\n");
  };
  routes["/readyz"] = [ready = std::move(ready)](const HttpRequest&) {
    const absl::Status status = ready ? ready() : absl::OkStatus();
    if (status.ok()) {
      return HttpResponse::Of(200, "text/plain; charset=utf-8", "ready\n");
    }
    return HttpResponse::Of(
        503, "text/plain; charset=utf-8",
        absl::StrCat("not ready: ", status.message(), "\n"));
  };
  return routes;
}

}  // namespace ghostpeer::http
