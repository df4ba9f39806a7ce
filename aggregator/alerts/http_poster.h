// POSTing a body to a URL: the only network I/O of alert delivery, behind
// an interface so that sinks are tested without sockets.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_HTTP_POSTER_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_HTTP_POSTER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::aggregator::alerts {

struct HttpPostResponse {
  int status = 0;
  std::string body;  // at most the first 1 KiB: for error messages
};

class HttpPoster {
 public:
  virtual ~HttpPoster() = default;
  // POSTs `body` with `headers` ("Name: value") and waits at most
  // `timeout`. Any HTTP answer is a response (the caller judges the
  // status); Unavailable for transport failures (refused, timed out, DNS),
  // with the URL and the reason. Thread-safe.
  virtual absl::StatusOr<HttpPostResponse> Post(
      const std::string& url, const std::string& body,
      const std::vector<std::string>& headers, absl::Duration timeout) = 0;
};

// libcurl, one easy handle per call (deliveries are rare; no pooling).
// Initializes libcurl globally on first construction.
std::unique_ptr<HttpPoster> NewCurlPoster();

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_HTTP_POSTER_H_
