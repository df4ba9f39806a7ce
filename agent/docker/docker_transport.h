// The narrow I/O boundary between ghostpeer and dockerd: HTTP GETs on the
// Engine API. Everything above it (parsing, the watcher's logic) is tested
// with a fake; the real one, CurlDockerTransport, speaks HTTP/1.1 over the
// daemon's unix socket with libcurl.
#ifndef GHOSTPEER_AGENT_DOCKER_DOCKER_TRANSPORT_H_
#define GHOSTPEER_AGENT_DOCKER_DOCKER_TRANSPORT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ghostpeer::agent::docker {

struct HttpResponse {
  int status = 0;  // the HTTP status code
  std::string body;
};

class DockerTransport {
 public:
  virtual ~DockerTransport() = default;

  // GET `path` ("/containers/json?all=1": relative to the API version, query
  // already URL-encoded). Any HTTP status is a successful exchange: callers
  // decide what 404 or 503 mean. Unavailable when the daemon cannot be
  // reached or the exchange fails or times out. Thread-safe.
  virtual absl::StatusOr<HttpResponse> Get(const std::string& path) = 0;

  // GET `path` and hand each '\n'-terminated line of the body to `on_line`
  // (without the '\n'; empty lines skipped), on the calling thread, as the
  // daemon flushes them. There is no overall deadline: the call returns
  //  - Cancelled soon after `should_stop()` returns true (CurlDockerTransport
  //    polls it at least every 100 ms, and after each batch of lines),
  //  - Unavailable when the daemon cannot be reached or the connection ends
  //    (dockerd exiting ends every stream),
  //  - FailedPrecondition with the daemon's message for a non-200 status,
  //  - ResourceExhausted for a line over the transport's line limit.
  // Thread-safe; `on_line` must not call back into the same transport's
  // Stream on this thread.
  virtual absl::Status Stream(
      const std::string& path,
      const std::function<void(absl::string_view line)>& on_line,
      const std::function<bool()>& should_stop) = 0;
};

struct CurlTransportOptions {
  std::string socket_path = "/var/run/docker.sock";
  // Prefix of every path: the API version Debian 12's docker.io speaks.
  std::string api_prefix = "/v1.41";
  absl::Duration connect_timeout = absl::Seconds(2);
  // Whole-request deadline of Get() (not of Stream()).
  absl::Duration request_timeout = absl::Seconds(10);
  // Bodies and lines larger than this are refused (a broken or hostile
  // daemon must not exhaust the agent's memory).
  size_t max_body_bytes = 64 << 20;
  size_t max_line_bytes = 1 << 20;
};

// libcurl over a unix socket. Each call uses its own easy handle, so calls
// from several threads run in parallel without locks.
class CurlDockerTransport final : public DockerTransport {
 public:
  // Initialises libcurl once per process. InvalidArgument for an empty
  // socket path; the socket itself is not touched until the first call.
  static absl::StatusOr<std::unique_ptr<CurlDockerTransport>> Create(
      const CurlTransportOptions& options);

  absl::StatusOr<HttpResponse> Get(const std::string& path) override;
  absl::Status Stream(
      const std::string& path,
      const std::function<void(absl::string_view line)>& on_line,
      const std::function<bool()>& should_stop) override;

 private:
  explicit CurlDockerTransport(CurlTransportOptions options)
      : options_(std::move(options)) {}

  std::string Url(const std::string& path) const;

  const CurlTransportOptions options_;
};

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_AGENT_DOCKER_DOCKER_TRANSPORT_H_
