// CurlDockerTransport: HTTP/1.1 over dockerd's unix socket with libcurl.
#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/docker/docker_api.h"
#include "agent/docker/docker_transport.h"

namespace ghostpeer::agent::docker {
namespace {

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

absl::Status GlobalInit() {
  // curl_global_init is not thread-safe and must run once before any handle
  // exists; later calls reuse the first result.
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

// How long a stream waits on its socket before looking at should_stop.
constexpr absl::Duration kStopPollInterval = absl::Milliseconds(100);

long Millis(absl::Duration d) {
  return static_cast<long>(absl::ToInt64Milliseconds(d));
}

// Options both kinds of request share. `errbuf` must outlive the transfer.
absl::StatusOr<EasyHandle> NewHandle(const CurlTransportOptions& options,
                                     const std::string& url, char* errbuf) {
  EasyHandle curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* h = curl.get();
  errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, options.socket_path.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  // No signals: libcurl runs on the agent's own threads, several at once.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   Millis(options.connect_timeout));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  return curl;
}

absl::Status TransferError(const std::string& url, CURLcode code,
                           const char* errbuf) {
  return absl::UnavailableError(
      absl::StrCat("docker GET ", url, ": ",
                   errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code)));
}

struct GetContext {
  std::string body;
  size_t limit = 0;
  bool too_large = false;
};

size_t OnGetData(char* data, size_t size, size_t count, void* user) {
  auto* ctx = static_cast<GetContext*>(user);
  const size_t n = size * count;
  if (ctx->body.size() + n > ctx->limit) {
    ctx->too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  ctx->body.append(data, n);
  return n;
}

struct StreamContext {
  CURL* curl = nullptr;
  const std::function<void(absl::string_view)>* on_line = nullptr;
  const std::function<bool()>* should_stop = nullptr;
  size_t max_line = 0;
  long http_status = 0;  // known from the first body byte on
  std::string pending;   // an incomplete line, or the error body
  bool line_too_long = false;
  bool stopped = false;
};

size_t OnStreamData(char* data, size_t size, size_t count, void* user) {
  auto* ctx = static_cast<StreamContext*>(user);
  const size_t n = size * count;
  if (ctx->http_status == 0) {
    curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &ctx->http_status);
  }
  if (ctx->http_status != 200) {
    // An error body is small JSON; keep a bounded prefix for the message.
    if (ctx->pending.size() < 4096) ctx->pending.append(data, n);
    return n;
  }
  // Split on '\n', keeping a partial last line for the next call: curl hands
  // over whatever the socket read gave, not whole events.
  absl::string_view chunk(data, n);
  while (!chunk.empty()) {
    const size_t newline = chunk.find('\n');
    if (newline == absl::string_view::npos) {
      ctx->pending.append(chunk.data(), chunk.size());
      break;
    }
    ctx->pending.append(chunk.data(), newline);
    chunk.remove_prefix(newline + 1);
    if (!ctx->pending.empty() && ctx->pending.back() == '\r') {
      ctx->pending.pop_back();
    }
    if (!ctx->pending.empty()) (*ctx->on_line)(ctx->pending);
    ctx->pending.clear();
  }
  if (ctx->pending.size() > ctx->max_line) {
    ctx->line_too_long = true;
    return 0;
  }
  return n;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlDockerTransport>>
CurlDockerTransport::Create(const CurlTransportOptions& options) {
  if (options.socket_path.empty()) {
    return absl::InvalidArgumentError("docker socket path is empty");
  }
  if (absl::Status status = GlobalInit(); !status.ok()) return status;
  return std::unique_ptr<CurlDockerTransport>(new CurlDockerTransport(options));
}

std::string CurlDockerTransport::Url(const std::string& path) const {
  // The host part only fills the Host header; dockerd rejects a request
  // without one, and "localhost" is what the docker CLI sends.
  return absl::StrCat("http://localhost", options_.api_prefix, path);
}

absl::StatusOr<HttpResponse> CurlDockerTransport::Get(const std::string& path) {
  const std::string url = Url(path);
  char errbuf[CURL_ERROR_SIZE];
  absl::StatusOr<EasyHandle> curl = NewHandle(options_, url, errbuf);
  if (!curl.ok()) return curl.status();
  CURL* h = curl->get();
  GetContext ctx;
  ctx.limit = options_.max_body_bytes;
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(options_.request_timeout));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnGetData);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
  const CURLcode code = curl_easy_perform(h);
  if (ctx.too_large) {
    return absl::ResourceExhaustedError(
        absl::StrCat("docker GET ", url, ": body over ", ctx.limit, " bytes"));
  }
  if (code != CURLE_OK) return TransferError(url, code, errbuf);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return HttpResponse{static_cast<int>(status), std::move(ctx.body)};
}

absl::Status CurlDockerTransport::Stream(
    const std::string& path,
    const std::function<void(absl::string_view line)>& on_line,
    const std::function<bool()>& should_stop) {
  const std::string url = Url(path);
  char errbuf[CURL_ERROR_SIZE];
  absl::StatusOr<EasyHandle> curl = NewHandle(options_, url, errbuf);
  if (!curl.ok()) return curl.status();
  CURL* h = curl->get();
  StreamContext ctx;
  ctx.curl = h;
  ctx.on_line = &on_line;
  ctx.should_stop = &should_stop;
  ctx.max_line = options_.max_line_bytes;
  // No CURLOPT_TIMEOUT: the stream is idle for as long as nothing happens.
  // A multi handle lets this thread wait on the socket in short slices and
  // look at `should_stop` between them, so a stop never waits for data.
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnStreamData);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
  std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  if (curl_multi_add_handle(multi.get(), h) != CURLM_OK) {
    return absl::InternalError("curl_multi_add_handle failed");
  }
  CURLcode code = CURLE_OK;
  int running = 1;
  while (running > 0) {
    CURLMcode mc = curl_multi_perform(multi.get(), &running);
    if (mc == CURLM_OK && running > 0) {
      if (should_stop()) {
        ctx.stopped = true;
        break;
      }
      mc = curl_multi_poll(
          multi.get(), nullptr, 0,
          static_cast<int>(kStopPollInterval / absl::Milliseconds(1)), nullptr);
    }
    if (mc != CURLM_OK) {
      curl_multi_remove_handle(multi.get(), h);
      return absl::InternalError(
          absl::StrCat("docker GET ", url, ": ", curl_multi_strerror(mc)));
    }
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
      code = msg->data.result;
    }
  }
  curl_multi_remove_handle(multi.get(), h);
  if (ctx.stopped) return absl::CancelledError("docker event stream stopped");
  if (ctx.line_too_long) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "docker GET ", url, ": line over ", ctx.max_line, " bytes"));
  }
  long status = ctx.http_status;
  if (status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 0 && status != 200) {
    return absl::FailedPreconditionError(
        absl::StrCat("docker GET ", url, ": HTTP ", status, ": ",
                     ErrorMessage(ctx.pending)));
  }
  if (code != CURLE_OK) return TransferError(url, code, errbuf);
  return absl::UnavailableError(
      absl::StrCat("docker GET ", url, ": stream ended by the daemon"));
}

}  // namespace ghostpeer::agent::docker
