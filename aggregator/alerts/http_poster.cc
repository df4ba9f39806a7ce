#include "aggregator/alerts/http_poster.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace ghostpeer::aggregator::alerts {
namespace {

constexpr size_t kMaxResponseBody = 1024;

size_t KeepHead(char* data, size_t size, size_t nmemb, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * nmemb;
  if (body->size() < kMaxResponseBody) {
    body->append(data, std::min(bytes, kMaxResponseBody - body->size()));
  }
  return bytes;  // consume everything: a long answer is not an error
}

class CurlPoster final : public HttpPoster {
 public:
  CurlPoster() {
    // curl_global_init is not thread-safe: once per process, before any
    // delivery thread exists.
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  absl::StatusOr<HttpPostResponse> Post(const std::string& url,
                                        const std::string& body,
                                        const std::vector<std::string>& headers,
                                        absl::Duration timeout) override {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                             curl_easy_cleanup);
    if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
    curl_slist* list = nullptr;
    for (const std::string& header : headers) {
      list = curl_slist_append(list, header.c_str());
    }
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_owner(
        list, curl_slist_free_all);
    const std::string agent = absl::StrCat("ghostpeer-aggregator/", kVersion);
    HttpPostResponse response;
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    // Delivery threads must not get SIGALRM from curl's resolver timeouts.
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    // Receivers are configured by URL; a redirect elsewhere is not followed.
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, KeepHead);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      return absl::UnavailableError(
          absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }
};

}  // namespace

std::unique_ptr<HttpPoster> NewCurlPoster() {
  return std::make_unique<CurlPoster>();
}

}  // namespace ghostpeer::aggregator::alerts
