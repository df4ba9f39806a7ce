// CurlDockerTransport against a tiny scripted HTTP/1.1 server on a unix
// socket the test creates in its own temporary directory: no dockerd, no
// network.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/docker/docker_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent::docker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What the server does for one path: write these pieces, pausing between
// them so the client sees them as separate reads, then either close or hold
// the connection open until the client goes away.
struct Script {
  std::vector<std::string> pieces;
  bool hold_open = false;
};

class ScriptedServer {
 public:
  ScriptedServer() {
    char dir[] = "/tmp/gp-curl-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/docker.sock";
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    thread_ = std::thread([this] { Run(); });
  }

  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  void Add(const std::string& path, Script script) {
    absl::MutexLock lock(&mu_);
    scripts_[path] = std::move(script);
  }
  std::string last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }
  const std::string& socket_path() const { return path_; }

 private:
  // Waits (bounded, stoppable) for `fd` to become readable.
  bool WaitReadable(int fd, int total_ms) {
    for (int waited = 0; waited < total_ms && !stop_; waited += 20) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void Run() {
    while (!stop_) {
      if (!WaitReadable(fd_, 100)) continue;
      const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      Serve(conn);
      close(conn);
    }
  }

  void Serve(int conn) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (!WaitReadable(conn, 5000)) return;
      const ssize_t n = read(conn, buf, sizeof(buf));
      if (n <= 0) return;
      request.append(buf, n);
    }
    const std::string line = request.substr(0, request.find("\r\n"));
    const std::string path = line.substr(4, line.rfind(' ') - 4);
    Script script;
    {
      absl::MutexLock lock(&mu_);
      last_request_ = request;
      auto it = scripts_.find(path);
      if (it == scripts_.end()) {
        script.pieces = {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"};
      } else {
        script = it->second;
      }
    }
    for (const std::string& piece : script.pieces) {
      if (write(conn, piece.data(), piece.size()) < 0) return;
      usleep(20 * 1000);
    }
    if (script.hold_open) {
      // Until the client hangs up (read returns 0) or 10 s pass.
      while (WaitReadable(conn, 10000)) {
        if (read(conn, buf, sizeof(buf)) <= 0) break;
      }
    }
  }

  std::string dir_, path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::map<std::string, Script> scripts_ ABSL_GUARDED_BY(mu_);
  std::string last_request_ ABSL_GUARDED_BY(mu_);
};

std::string Chunk(const std::string& data) {
  char size[16];
  snprintf(size, sizeof(size), "%zx", data.size());
  return absl::StrCat(size, "\r\n", data, "\r\n");
}

constexpr char kChunkedHeader[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

class CurlTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<CurlDockerTransport> Transport(
      CurlTransportOptions options = {}) {
    options.socket_path = server_.socket_path();
    options.request_timeout = absl::Milliseconds(500);
    auto transport = CurlDockerTransport::Create(options);
    EXPECT_TRUE(transport.ok()) << transport.status();
    return *std::move(transport);
  }

  ScriptedServer server_;
};

TEST_F(CurlTransportTest, GetReturnsStatusAndBody) {
  server_.Add(
      "/v1.41/info",
      {{"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"Name\":1}\n"}});
  auto response = Transport()->Get("/info");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{\"Name\":1}\n");
  // dockerd refuses requests without a proper Host header.
  EXPECT_THAT(server_.last_request(), HasSubstr("GET /v1.41/info HTTP/1.1"));
  EXPECT_THAT(server_.last_request(), HasSubstr("Host: localhost"));
}

TEST_F(CurlTransportTest, GetPassesErrorStatusesThrough) {
  auto response = Transport()->Get("/containers/nope/json");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST_F(CurlTransportTest, GetTimesOutOnASilentDaemon) {
  server_.Add("/v1.41/info", {{}, /*hold_open=*/true});
  auto response = Transport()->Get("/info");
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
}

TEST_F(CurlTransportTest, GetRefusesOversizedBodies) {
  CurlTransportOptions options;
  options.max_body_bytes = 100;
  server_.Add("/v1.41/containers/json",
              {{absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                             std::string(1000, 'x'))}});
  auto response = Transport(options)->Get("/containers/json");
  EXPECT_TRUE(absl::IsResourceExhausted(response.status()))
      << response.status();
}

TEST(CurlTransportNoServerTest, MissingSocketIsUnavailable) {
  CurlTransportOptions options;
  options.socket_path = "/nonexistent/gp-docker-test.sock";
  auto transport = CurlDockerTransport::Create(options);
  ASSERT_TRUE(transport.ok());
  auto response = (*transport)->Get("/info");
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  const absl::Status status =
      (*transport)
          ->Stream(
              "/events", [](absl::string_view) {}, [] { return false; });
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
}

TEST(CurlTransportNoServerTest, EmptySocketPathIsRejected) {
  CurlTransportOptions options;
  options.socket_path = "";
  EXPECT_TRUE(
      absl::IsInvalidArgument(CurlDockerTransport::Create(options).status()));
}

TEST_F(CurlTransportTest, StreamSplitsLinesAcrossChunks) {
  // Lines split mid-way across chunks and reads, a blank line, CRLF.
  server_.Add("/v1.41/events",
              {{kChunkedHeader, Chunk("{\"a\":1}\n{\"b\""), Chunk(":2}\n\n"),
                Chunk("{\"c\":3}\r\n"), "0\r\n\r\n"}});
  std::vector<std::string> lines;
  const absl::Status status = Transport()->Stream(
      "/events", [&lines](absl::string_view line) { lines.emplace_back(line); },
      [] { return false; });
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"));
  // The daemon ending the stream is a lost connection to the watcher.
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("ended"));
}

TEST_F(CurlTransportTest, StreamCutMidwayIsUnavailable) {
  server_.Add("/v1.41/events",
              {{kChunkedHeader, Chunk("{\"a\":1}\n{\"partial")}});
  std::vector<std::string> lines;
  const absl::Status status = Transport()->Stream(
      "/events", [&lines](absl::string_view line) { lines.emplace_back(line); },
      [] { return false; });
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}"));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
}

TEST_F(CurlTransportTest, StreamStopsWhenAsked) {
  server_.Add("/v1.41/events",
              {{kChunkedHeader, Chunk("{\"a\":1}\n")}, /*hold_open=*/true});
  std::atomic<bool> stop{false};
  std::vector<std::string> lines;
  const absl::Status status = Transport()->Stream(
      "/events",
      [&](absl::string_view line) {
        lines.emplace_back(line);
        stop = true;  // asked to stop while the stream is idle
      },
      [&stop] { return stop.load(); });
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}"));
}

TEST_F(CurlTransportTest, StreamErrorStatusCarriesDaemonMessage) {
  const std::string body = R"({"message":"invalid filter 'bogus'"})";
  server_.Add("/v1.41/events",
              {{absl::StrCat("HTTP/1.1 400 Bad Request\r\nContent-Length: ",
                             body.size(), "\r\n\r\n", body)}});
  bool called = false;
  const absl::Status status = Transport()->Stream(
      "/events", [&called](absl::string_view) { called = true; },
      [] { return false; });
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("invalid filter"));
  EXPECT_FALSE(called);
}

TEST_F(CurlTransportTest, StreamRefusesOverlongLines) {
  CurlTransportOptions options;
  options.max_line_bytes = 64;
  server_.Add("/v1.41/events", {{kChunkedHeader, Chunk(std::string(200, 'x'))},
                                /*hold_open=*/true});
  const absl::Status status = Transport(options)->Stream(
      "/events", [](absl::string_view) {}, [] { return false; });
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
}

}  // namespace
}  // namespace ghostpeer::agent::docker
