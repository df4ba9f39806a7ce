#include "tests/support/netns_scenario.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "tests/support/command.h"

namespace ghostpeer::testing {
namespace {

constexpr int kServerHost = 2;
constexpr int kFirstClientHost = 10;
constexpr int kNewOwnerHost = kServerHost;
constexpr int kMaxClients = 200;
constexpr absl::Duration kReadyTimeout = absl::Seconds(10);
// Children end by themselves after this even if nobody kills them.
constexpr int64_t kChildLifetimeMs = 30 * 60 * 1000;

std::atomic<int> scenario_counter{0};

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void SleepMs(int64_t ms) {
  timespec ts = {static_cast<time_t>(ms / 1000),
                 static_cast<long>(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

struct Endpoint {
  sockaddr_storage address = {};
  socklen_t length = 0;
  int family = AF_INET;
};

absl::StatusOr<Endpoint> MakeEndpoint(const std::string& ip, uint16_t port) {
  Endpoint endpoint;
  if (ip.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&endpoint.address);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &in->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad address ", ip));
    }
    endpoint.length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&endpoint.address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad address ", ip));
    }
    endpoint.length = sizeof(sockaddr_in6);
    endpoint.family = AF_INET6;
  }
  return endpoint;
}

// Child body: accept `clients` connections, keep reading everything, and
// shut the write side `fin_after_ms` after each accept (0: never).
void ServeForever(Endpoint endpoint, int clients, int64_t fin_after_ms,
                  int ready_fd) {
  const int listener = socket(endpoint.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listener, reinterpret_cast<sockaddr*>(&endpoint.address),
           endpoint.length) != 0 ||
      listen(listener, 256) != 0) {
    _exit(10);
  }
  pollfd fds[kMaxClients + 1];
  int64_t accepted_at[kMaxClients + 1] = {};
  bool fin_sent[kMaxClients + 1] = {};
  int count = 1;
  fds[0] = {listener, POLLIN, 0};
  char buffer[65536];
  const int64_t start = NowMs();
  while (NowMs() - start < kChildLifetimeMs) {
    poll(fds, count, 50);
    if ((fds[0].revents & POLLIN) && count <= clients) {
      const int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) {
        accepted_at[count] = NowMs();
        fds[count++] = {conn, POLLIN, 0};
        if (count - 1 == clients) {
          const char ready = 'A';
          if (write(ready_fd, &ready, 1) != 1) _exit(11);
        }
      }
    }
    for (int i = 1; i < count; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT) == 0) {
          fds[i].events = 0;  // the client closed: stop polling it
        }
      }
      if (fin_after_ms > 0 && !fin_sent[i] &&
          NowMs() - accepted_at[i] >= fin_after_ms) {
        shutdown(fds[i].fd, SHUT_WR);
        fin_sent[i] = true;
      }
    }
  }
}

// Child body: connect (retrying for up to 5 s), report, then write a line
// every `interval_ms` (or once, when idle). Exits on a write error.
void WriteForever(Endpoint server, bool idle, int64_t interval_ms,
                  int ready_fd) {
  int fd = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd = socket(server.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&server.address),
                server.length) == 0) {
      break;
    }
    close(fd);
    fd = -1;
    SleepMs(50);
  }
  if (fd < 0) _exit(20);
  const char ready = 'C';
  if (write(ready_fd, &ready, 1) != 1) _exit(21);
  const int64_t start = NowMs();
  char line[64];
  for (long n = 0; NowMs() - start < kChildLifetimeMs; ++n) {
    if (!idle || n == 0) {
      // Hand-rolled "log_data <n>\n": no stdio in a forked child.
      char digits[24];
      int length = 0;
      long value = n;
      do {
        digits[length++] = static_cast<char>('0' + value % 10);
        value /= 10;
      } while (value > 0);
      int size = 0;
      for (const char c : {'l', 'o', 'g', '_', 'd', 'a', 't', 'a', ' '}) {
        line[size++] = c;
      }
      while (length > 0) line[size++] = digits[--length];
      line[size++] = '\n';
      if (send(fd, line, size, MSG_NOSIGNAL) < 0) _exit(22);
    }
    SleepMs(interval_ms);
  }
}

// Child body, UDP: bind, report, read and drop every datagram.
void ReceiveForever(Endpoint endpoint, int ready_fd) {
  const int fd = socket(endpoint.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&endpoint.address),
                     endpoint.length) != 0) {
    _exit(12);
  }
  const char ready = 'U';
  if (write(ready_fd, &ready, 1) != 1) _exit(13);
  char buffer[65536];
  const int64_t start = NowMs();
  while (NowMs() - start < kChildLifetimeMs) {
    pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) == 1) recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
  }
}

// Child body, UDP: a datagram every `interval_ms` (once, when idle) to the
// server, through a connected socket unless `connected` is false (then
// sendto() each time). Send errors are ignored: see Transport::kUdp.
void SendForever(Endpoint server, bool connected, bool idle,
                 int64_t interval_ms, int ready_fd) {
  const int fd = socket(server.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) _exit(24);
  if (connected && connect(fd, reinterpret_cast<sockaddr*>(&server.address),
                           server.length) != 0) {
    _exit(25);
  }
  static const char kLine[] = "log_data udp\n";
  // The first datagram binds an unconnected socket to a port, so it exists
  // as the agent would see it before the test looks.
  if (sendto(fd, kLine, sizeof(kLine) - 1, 0,
             reinterpret_cast<sockaddr*>(&server.address), server.length) < 0) {
    _exit(26);
  }
  const char ready = 'S';
  if (write(ready_fd, &ready, 1) != 1) _exit(27);
  const int64_t start = NowMs();
  while (NowMs() - start < kChildLifetimeMs) {
    SleepMs(interval_ms);
    if (idle) continue;
    if (connected) {
      send(fd, kLine, sizeof(kLine) - 1, MSG_DONTWAIT);
    } else {
      sendto(fd, kLine, sizeof(kLine) - 1, MSG_DONTWAIT,
             reinterpret_cast<sockaddr*>(&server.address), server.length);
    }
  }
}

}  // namespace

NetnsScenario::NetnsScenario(NetnsScenarioOptions options)
    : options_(std::move(options)) {
  base_ = absl::StrCat(options_.prefix, getpid(), "-", scenario_counter++);
  switch_netns_ = base_ + "-sw";
  server_netns_ = base_ + "-srv";
}

absl::StatusOr<std::unique_ptr<NetnsScenario>> NetnsScenario::Create(
    NetnsScenarioOptions options) {
  if (geteuid() != 0) {
    return absl::UnavailableError("network namespaces need root");
  }
  if (options.clients < 1 || options.clients > kMaxClients) {
    return absl::InvalidArgumentError(
        absl::StrCat("clients must be 1..", kMaxClients));
  }
  if (options.unconnected_clients < 0 ||
      options.unconnected_clients > options.clients ||
      (options.unconnected_clients > 0 &&
       options.transport != Transport::kUdp)) {
    return absl::InvalidArgumentError(
        "unconnected_clients: 0..clients, and only with Transport::kUdp");
  }
  if (!RunCommand({"ip", "-V"}).ok()) {
    return absl::UnavailableError("the `ip` command (iproute2) is missing");
  }
  std::unique_ptr<NetnsScenario> scenario(
      new NetnsScenario(std::move(options)));
  absl::Status status = scenario->Build();
  if (!status.ok()) return status;  // the destructor cleans up
  return scenario;
}

std::string NetnsScenario::AddressWithSuffix(int host) const {
  if (options_.ipv6) return absl::StrCat("fd00:99::", absl::Hex(host));
  return absl::StrCat("10.99.0.", host);
}

std::string NetnsScenario::Prefixed(const std::string& address) const {
  return absl::StrCat(address, options_.ipv6 ? "/64" : "/24");
}

std::string NetnsScenario::server_address() const {
  return AddressWithSuffix(kServerHost);
}

std::string NetnsScenario::client_address(int i) const {
  return AddressWithSuffix(kFirstClientHost + i);
}

absl::Status NetnsScenario::AddNamespace(const std::string& name) {
  absl::StatusOr<std::string> out = RunCommand({"ip", "netns", "add", name});
  if (!out.ok()) return out.status();
  created_netns_.push_back(name);
  out = RunCommand({"ip", "-n", name, "link", "set", "lo", "up"});
  return out.status();
}

absl::Status NetnsScenario::AttachToSwitch(const std::string& netns,
                                           const std::string& switch_port,
                                           const std::string& address) {
  // The veth pair is created inside the switch namespace with its peer
  // moved straight into `netns`: it never exists in the host's namespace.
  const std::vector<std::vector<std::string>> commands = {
      {"ip", "-n", switch_netns_, "link", "add", switch_port, "type", "veth",
       "peer", "name", "eth0", "netns", netns},
      {"ip", "-n", switch_netns_, "link", "set", switch_port, "master", "br0",
       "up"},
      {"ip", "-n", netns, "link", "set", "eth0", "up"},
  };
  for (const auto& command : commands) {
    absl::StatusOr<std::string> out = RunCommand(command);
    if (!out.ok()) return out.status();
  }
  std::vector<std::string> add = {
      "ip", "-n", netns, "addr", "add", Prefixed(address), "dev", "eth0"};
  if (options_.ipv6) add.push_back("nodad");  // usable at once, no DAD wait
  return RunCommand(add).status();
}

absl::Status NetnsScenario::Build() {
  absl::Status status = AddNamespace(switch_netns_);
  if (!status.ok()) return status;
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"ip", "-n", switch_netns_, "link", "add", "br0", "type", "bridge"},
           {"ip", "-n", switch_netns_, "link", "set", "br0", "up"}}) {
    absl::StatusOr<std::string> out = RunCommand(command);
    if (!out.ok()) return out.status();
  }
  status = AddNamespace(server_netns_);
  if (!status.ok()) return status;
  status = AttachToSwitch(server_netns_, "p-srv", server_address());
  if (!status.ok()) return status;
  clients_.resize(options_.clients);
  for (int i = 0; i < options_.clients; ++i) {
    clients_[i].netns = absl::StrCat(base_, "-c", i);
    status = AddNamespace(clients_[i].netns);
    if (!status.ok()) return status;
    status = AttachToSwitch(clients_[i].netns, absl::StrCat("p-c", i),
                            client_address(i));
    if (!status.ok()) return status;
  }
  status = StartServer();
  if (!status.ok()) return status;
  for (Client& client : clients_) {
    status = StartClient(client);
    if (!status.ok()) return status;
  }
  for (Client& client : clients_) {
    status =
        WaitReady(client.ready_fd, absl::StrCat("client in ", client.netns));
    if (!status.ok()) return status;
  }
  return WaitReady(server_ready_fd_, "server");
}

absl::Status NetnsScenario::StartServer() {
  absl::StatusOr<Endpoint> endpoint =
      MakeEndpoint(server_address(), options_.port);
  if (!endpoint.ok()) return endpoint.status();
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  const int clients = options_.clients;
  const int64_t fin_after_ms =
      absl::ToInt64Milliseconds(options_.server_fin_after);
  const Endpoint server = *endpoint;
  const int write_end = ready[1];
  const bool udp = options_.transport == Transport::kUdp;
  absl::StatusOr<pid_t> pid = SpawnInNamespace(server_netns_, [=] {
    if (udp) {
      ReceiveForever(server, write_end);
    } else {
      ServeForever(server, clients, fin_after_ms, write_end);
    }
  });
  close(ready[1]);
  server_ready_fd_ = ready[0];
  if (!pid.ok()) return pid.status();
  server_pid_ = *pid;
  return absl::OkStatus();
}

absl::Status NetnsScenario::StartClient(Client& client) {
  absl::StatusOr<Endpoint> endpoint =
      MakeEndpoint(server_address(), options_.port);
  if (!endpoint.ok()) return endpoint.status();
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  const bool idle = options_.client_mode == ClientMode::kIdle;
  const int64_t interval_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.write_interval));
  const Endpoint server = *endpoint;
  const int write_end = ready[1];
  const bool udp = options_.transport == Transport::kUdp;
  // The last unconnected_clients clients are the unconnected ones.
  const bool connected = &client - clients_.data() <
                         options_.clients - options_.unconnected_clients;
  absl::StatusOr<pid_t> pid = SpawnInNamespace(client.netns, [=] {
    if (udp) {
      SendForever(server, connected, idle, interval_ms, write_end);
    } else {
      WriteForever(server, idle, interval_ms, write_end);
    }
  });
  close(ready[1]);
  client.ready_fd = ready[0];
  if (!pid.ok()) return pid.status();
  client.pid = *pid;
  return absl::OkStatus();
}

absl::Status NetnsScenario::WaitReady(int fd, const std::string& what) {
  pollfd pfd = {fd, POLLIN, 0};
  const int ready = poll(&pfd, 1, absl::ToInt64Milliseconds(kReadyTimeout));
  char byte;
  if (ready != 1 || read(fd, &byte, 1) != 1) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, " not ready within ", absl::FormatDuration(kReadyTimeout)));
  }
  return absl::OkStatus();
}

absl::Status NetnsScenario::Vanish() {
  if (server_pid_ == 0) {
    return absl::FailedPreconditionError("the server already vanished");
  }
  // Link first: whatever the dying server's kernel sends (FIN, or RST for
  // unread data) must not reach the clients.
  absl::StatusOr<std::string> out =
      RunCommand({"ip", "-n", switch_netns_, "link", "del", "p-srv"});
  if (!out.ok()) return out.status();
  absl::Status status = KillAndReap(server_pid_);
  if (!status.ok()) return status;
  server_pid_ = 0;
  out = RunCommand({"ip", "netns", "del", server_netns_});
  if (!out.ok()) return out.status();
  created_netns_.erase(
      std::remove(created_netns_.begin(), created_netns_.end(), server_netns_),
      created_netns_.end());
  return absl::OkStatus();
}

absl::Status NetnsScenario::GiveServerAddressAway() {
  if (server_pid_ != 0) {
    return absl::FailedPreconditionError("the server has not vanished yet");
  }
  new_owner_netns_ = absl::StrCat(base_, "-new", created_netns_.size());
  absl::Status status = AddNamespace(new_owner_netns_);
  if (!status.ok()) return status;
  return AttachToSwitch(new_owner_netns_, "p-new",
                        AddressWithSuffix(kNewOwnerHost));
}

absl::StatusOr<uint64_t> NetnsScenario::NetnsInode(const std::string& netns) {
  struct stat st;
  const std::string path = absl::StrCat("/var/run/netns/", netns);
  if (stat(path.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  return static_cast<uint64_t>(st.st_ino);
}

NetnsScenario::~NetnsScenario() {
  for (Client& client : clients_) {
    if (client.pid > 0) KillAndReap(client.pid).IgnoreError();
    if (client.ready_fd >= 0) close(client.ready_fd);
  }
  if (server_pid_ > 0) KillAndReap(server_pid_).IgnoreError();
  if (server_ready_fd_ >= 0) close(server_ready_fd_);
  for (auto it = created_netns_.rbegin(); it != created_netns_.rend(); ++it) {
    RunCommand({"ip", "netns", "del", *it}).status().IgnoreError();
  }
}

}  // namespace ghostpeer::testing
