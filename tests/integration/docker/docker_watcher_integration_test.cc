// DockerWatcher against the real dockerd (scripts/docker-up.sh starts one).
// Everything the tests create is named gp-test-*-<pid> and removed by name.
// Containers only `sleep`: no traffic is sent anywhere.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "agent/docker/docker_watcher.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace ghostpeer::agent::docker {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kEventWait = absl::Seconds(60);

// Runs a command (no shell) and returns its stdout, trimmed. posix_spawnp is
// safe here although the test process has threads (the watcher's).
absl::StatusOr<std::string> RunCommand(
    const std::vector<std::string>& argv,
    absl::Duration timeout = absl::Seconds(120)) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", rc));
  }
  std::string output;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  bool timed_out = false;
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) <= 0) {
      continue;
    }
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    output.append(buf, n);
  }
  close(out[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string command = absl::StrJoin(argv, " ");
  if (timed_out) return absl::DeadlineExceededError(command);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(command, ": ", output));
  }
  return std::string(absl::StripAsciiWhitespace(output));
}

// A unix-socket proxy in front of dockerd that the test can cut and
// restore: dockerd "going away" for the watcher, without touching the real
// daemon other users of this machine rely on.
class CuttableProxy {
 public:
  CuttableProxy(std::string upstream, std::string path)
      : upstream_(std::move(upstream)), path_(std::move(path)) {
    unlink(path_.c_str());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = Address(path_);
    EXPECT_EQ(
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~CuttableProxy() {
    stop_ = true;
    thread_.join();
    CloseAll();
    close(listen_fd_);
    unlink(path_.c_str());
  }
  // While cut, open connections are closed and new ones refused.
  void SetCut(bool cut) { cut_ = cut; }

 private:
  static sockaddr_un Address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    return addr;
  }

  void CloseAll() {
    for (auto& [a, b] : pairs_) {
      close(a);
      close(b);
    }
    pairs_.clear();
  }

  void Run() {
    while (!stop_) {
      if (cut_) CloseAll();
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& [a, b] : pairs_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0 && cut_) {
          close(client);
        } else if (client >= 0) {
          const int up = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
          sockaddr_un addr = Address(upstream_);
          if (connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
              0) {
            pairs_.push_back({client, up});
          } else {
            close(client);
            close(up);
          }
        }
      }
      // Pump the pairs that were polled; a pair whose either side ended is
      // closed both ways. One accepted just now has no entry in `fds` yet:
      // it waits for the next poll.
      const size_t polled = (fds.size() - 1) / 2;
      std::vector<std::pair<int, int>> kept;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        auto [a, b] = pairs_[i];
        const bool alive = i >= polled || (Pump(fds[1 + 2 * i], a, b) &&
                                           Pump(fds[2 + 2 * i], b, a));
        if (alive) {
          kept.push_back({a, b});
        } else {
          close(a);
          close(b);
        }
      }
      pairs_ = std::move(kept);
    }
  }

  static bool Pump(const pollfd& p, int from, int to) {
    if (p.revents & (POLLHUP | POLLERR)) {
      if (!(p.revents & POLLIN)) return false;
    }
    if (!(p.revents & POLLIN)) return true;
    char buf[16384];
    const ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) return false;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = write(to, buf + done, n - done);
      if (w <= 0) return false;
      done += w;
    }
    return true;
  }

  const std::string upstream_, path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false}, cut_{false};
  std::thread thread_;
  std::vector<std::pair<int, int>> pairs_;  // only the proxy thread
};

class Collector {
 public:
  void Add(std::vector<v1::AddressEvent> events) {
    absl::MutexLock lock(&mu_);
    for (auto& e : events) events_.push_back(std::move(e));
  }
  // Waits for an event matching `match`; returns it, or nullopt at timeout.
  std::optional<v1::AddressEvent> WaitFor(
      const std::function<bool(const v1::AddressEvent&)>& match) {
    absl::MutexLock lock(&mu_);
    std::optional<v1::AddressEvent> found;
    auto seen = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (const auto& e : events_) {
        if (match(e)) {
          found = e;
          return true;
        }
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&seen), kEventWait);
    return found;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::AddressEvent> events_ ABSL_GUARDED_BY(mu_);
};

std::function<bool(const v1::AddressEvent&)> Is(
    v1::AddressEventType type, v1::AddressEventSource source,
    std::string container_or_service, std::string address = "") {
  return [=](const v1::AddressEvent& e) {
    const bool who = e.owner().container_id() == container_or_service ||
                     e.owner().service() == container_or_service;
    return e.type() == type && e.source() == source && who &&
           (address.empty() || e.owner().address() == address);
  };
}

class DockerWatcherIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!RunCommand({"docker", "info"}, absl::Seconds(20)).ok()) {
      skip_reason_ = "no dockerd answers `docker info` (scripts/docker-up.sh)";
      return;
    }
    if (access("/bin/busybox", X_OK) != 0) {
      skip_reason_ = "no /bin/busybox (apt-get install busybox-static)";
      return;
    }
    // A registry-free image: a rootfs of busybox-static, imported.
    image_ = absl::StrCat("gp-test-watch-", getpid(), ":latest");
    char dir[] = "/tmp/gp-test-rootfs-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string root = dir;
    ASSERT_TRUE(RunCommand({"mkdir", "-p", root + "/fs/bin"}).ok());
    ASSERT_TRUE(
        RunCommand({"cp", "/bin/busybox", root + "/fs/bin/busybox"}).ok());
    ASSERT_TRUE(
        RunCommand({"ln", "-s", "busybox", root + "/fs/bin/sleep"}).ok());
    ASSERT_TRUE(RunCommand({"ln", "-s", "busybox", root + "/fs/bin/sh"}).ok());
    ASSERT_TRUE(RunCommand({"tar", "-C", root + "/fs", "-cf",
                            root + "/rootfs.tar", "."})
                    .ok());
    auto imported =
        RunCommand({"docker", "import", root + "/rootfs.tar", image_});
    ASSERT_TRUE(imported.ok()) << imported.status();
    ASSERT_TRUE(RunCommand({"rm", "-rf", root}).ok());
  }

  static void TearDownTestSuite() {
    if (!image_.empty()) (void)RunCommand({"docker", "rmi", "-f", image_});
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    suffix_ = absl::StrCat(getpid(), "-", ++counter_);
    network_ = "gp-test-net-" + suffix_;
    auto created = RunCommand({"docker", "network", "create", network_});
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void TearDown() override {
    if (!skip_reason_.empty()) return;
    if (watcher_) watcher_->Stop();
    for (const std::string& name : containers_) {
      (void)RunCommand({"docker", "rm", "-f", name});
    }
    if (!service_.empty())
      (void)RunCommand({"docker", "service", "rm", service_});
    // A service's tasks release the network a little after `service rm`.
    for (int i = 0; i < 30; ++i) {
      if (RunCommand({"docker", "network", "rm", network_}).ok()) break;
      absl::SleepFor(absl::Milliseconds(500));
    }
  }

  void StartWatcher(const std::string& socket_path,
                    absl::Duration swarm_poll = absl::ZeroDuration()) {
    CurlTransportOptions transport_options;
    transport_options.socket_path = socket_path;
    auto transport = CurlDockerTransport::Create(transport_options);
    ASSERT_TRUE(transport.ok()) << transport.status();
    DockerWatcherOptions options;
    options.node = "test-node";
    options.swarm_poll_interval = swarm_poll;
    options.reconnect_initial_backoff = absl::Milliseconds(50);
    options.reconnect_max_backoff = absl::Milliseconds(500);
    options.on_events = [this](std::vector<v1::AddressEvent> events) {
      collector_.Add(std::move(events));
    };
    auto watcher = DockerWatcher::Create(*std::move(transport), options);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
    watcher_->Start();
    ASSERT_TRUE(watcher_->WaitForSync(absl::Seconds(30))) << watcher_->Status();
  }

  // Runs a sleeping container on the test's network; returns its id.
  std::string RunContainer(const std::string& name) {
    containers_.push_back(name);
    auto id = RunCommand({"docker", "run", "-d", "--name", name, "--network",
                          network_, image_, "sleep", "3600"});
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  }

  std::string AddressOf(const std::string& id) {
    auto ip = RunCommand(
        {"docker", "inspect", "-f",
         "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id});
    EXPECT_TRUE(ip.ok()) << ip.status();
    return ip.ok() ? *ip : "";
  }

  static inline std::string skip_reason_;
  static inline std::string image_;
  static inline int counter_ = 0;
  std::string suffix_, network_, service_;
  std::vector<std::string> containers_;
  Collector collector_;
  std::unique_ptr<DockerWatcher> watcher_;
};

TEST_F(DockerWatcherIntegrationTest,
       ContainerRunThenRemoveAttachesAndDetaches) {
  StartWatcher("/var/run/docker.sock");
  EXPECT_EQ(watcher_->Status(), "connected");
  const std::string id = RunContainer("gp-test-ctr-" + suffix_);
  ASSERT_FALSE(id.empty());
  const std::string ip = AddressOf(id);
  ASSERT_FALSE(ip.empty());

  auto attach = collector_.WaitFor(Is(v1::ATTACH, v1::DOCKER_EVENT, id, ip));
  ASSERT_TRUE(attach.has_value()) << "no ATTACH for " << id << " " << ip;
  EXPECT_EQ(attach->owner().kind(), v1::OWNER_KIND_CONTAINER);
  EXPECT_EQ(attach->owner().network(), network_);
  // A user bridge: every node may hand the same address out again.
  EXPECT_EQ(attach->owner().scope(), v1::ADDRESS_SCOPE_NODE);
  EXPECT_EQ(attach->owner().container_name(), "gp-test-ctr-" + suffix_);
  EXPECT_EQ(attach->owner().node(), "test-node");
  EXPECT_EQ(attach->owner().image(), image_);
  EXPECT_GT(attach->owner().netns_inode(), 0u);
  auto info = watcher_->Lookup(id);
  ASSERT_TRUE(info.has_value());
  EXPECT_GT(info->pid, 0);

  ASSERT_TRUE(RunCommand({"docker", "rm", "-f", id}).ok());
  auto detach = collector_.WaitFor(Is(v1::DETACH, v1::DOCKER_EVENT, id, ip));
  ASSERT_TRUE(detach.has_value()) << "no DETACH for " << id << " " << ip;
  EXPECT_GE(FromProto(detach->time()), FromProto(attach->time()));
  EXPECT_EQ(detach->owner().netns_inode(), attach->owner().netns_inode());
}

TEST_F(DockerWatcherIntegrationTest, LostConnectionIsDiffedOnReconnect) {
  char dir[] = "/tmp/gp-test-proxy-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string proxy_path = std::string(dir) + "/docker.sock";
  {
    CuttableProxy proxy("/var/run/docker.sock", proxy_path);
    const std::string before = RunContainer("gp-test-before-" + suffix_);
    const std::string before_ip = AddressOf(before);
    StartWatcher(proxy_path);
    ASSERT_TRUE(collector_.WaitFor(
        Is(v1::ATTACH, v1::DOCKER_EVENT, before, before_ip)));

    // Lose dockerd; while the watcher is blind, one container goes and
    // another comes.
    proxy.SetCut(true);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!absl::StartsWith(watcher_->Status(), "unavailable") &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_THAT(watcher_->Status(), StartsWith("unavailable: "));
    ASSERT_TRUE(RunCommand({"docker", "rm", "-f", before}).ok());
    const std::string after = RunContainer("gp-test-after-" + suffix_);
    const std::string after_ip = AddressOf(after);
    proxy.SetCut(false);

    EXPECT_TRUE(
        collector_.WaitFor(Is(v1::DETACH, v1::DOCKER_EVENT, before, before_ip)))
        << "the container removed while away was not detached";
    EXPECT_TRUE(
        collector_.WaitFor(Is(v1::ATTACH, v1::DOCKER_EVENT, after, after_ip)))
        << "the container started while away was not attached";
    // The re-sync's events go out before the status flips: wait for it.
    const absl::Time connected_by = absl::Now() + absl::Seconds(10);
    while (watcher_->Status() != "connected" && absl::Now() < connected_by) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(watcher_->Status(), "connected");
    EXPECT_GE(watcher_->Stats().connection_losses, 1u);
    watcher_->Stop();
  }
  rmdir(dir);
}

TEST_F(DockerWatcherIntegrationTest, ManagerSeesTaskAddressesAndTheirEnd) {
  auto state =
      RunCommand({"docker", "info", "--format",
                  "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"});
  if (!state.ok() || *state != "active true") {
    GTEST_SKIP() << "not a swarm manager (scripts/docker-up.sh inits one)";
  }
  // An attachable overlay network and one dnsrr service of one task.
  ASSERT_TRUE(RunCommand({"docker", "network", "rm", network_}).ok());
  ASSERT_TRUE(RunCommand({"docker", "network", "create", "-d", "overlay",
                          "--attachable", network_})
                  .ok());
  StartWatcher("/var/run/docker.sock", absl::Milliseconds(300));
  service_ = "gp-test-svc-" + suffix_;
  auto created = RunCommand({"docker", "service", "create", "-q", "--name",
                             service_, "--network", network_, "--endpoint-mode",
                             "dnsrr", image_, "sleep", "3600"});
  ASSERT_TRUE(created.ok()) << created.status();

  auto task = collector_.WaitFor(Is(v1::ATTACH, v1::SWARM_TASKS, service_));
  ASSERT_TRUE(task.has_value()) << "no task ATTACH for " << service_;
  EXPECT_EQ(task->owner().kind(), v1::OWNER_KIND_SWARM_TASK);
  EXPECT_EQ(task->owner().network(), network_);
  EXPECT_EQ(task->owner().task_slot(), "1");
  EXPECT_EQ(task->owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_THAT(task->owner().task(), StartsWith(service_ + ".1."));
  const std::string address = task->owner().address();
  // The same address from the node's own container events, with identity.
  auto container =
      collector_.WaitFor(Is(v1::ATTACH, v1::DOCKER_EVENT, service_, address));
  ASSERT_TRUE(container.has_value());
  EXPECT_EQ(container->owner().task(), task->owner().task());
  EXPECT_EQ(container->owner().container_id(), task->owner().container_id());
  // The overlay's scope, from the node's own /networks.
  EXPECT_EQ(container->owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_TRUE(watcher_->IsSwarmManager());
  // The managers' view of the nodes, as the real engine answers /nodes:
  // this node, ready, a manager, read at the last poll.
  const std::vector<v1::SwarmNode> nodes = watcher_->SwarmNodes();
  ASSERT_FALSE(nodes.empty());
  bool ready_manager = false;
  for (const v1::SwarmNode& node : nodes) {
    EXPECT_FALSE(node.id().empty());
    EXPECT_TRUE(node.has_observed_at());
    if (node.state() == v1::SWARM_NODE_STATE_READY &&
        node.role() == v1::SWARM_NODE_ROLE_MANAGER && node.has_state_since()) {
      ready_manager = true;
    }
  }
  EXPECT_TRUE(ready_manager);

  ASSERT_TRUE(RunCommand({"docker", "service", "rm", service_}).ok());
  service_.clear();
  EXPECT_TRUE(collector_.WaitFor(
      Is(v1::DETACH, v1::SWARM_TASKS, task->owner().service(), address)))
      << "task address not detached after service rm";
  EXPECT_TRUE(collector_.WaitFor(
      Is(v1::DETACH, v1::DOCKER_EVENT, task->owner().service(), address)));
}

}  // namespace
}  // namespace ghostpeer::agent::docker
