#include "tests/support/ghost_topology.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/support/command.h"

namespace ghostpeer::testing {
namespace {

std::atomic<int> topology_counter{0};

// Syscalls only: runs in a child forked from a multithreaded parent.
// `address` is IPv4 or IPv6 text (an IPv4-mapped one for kMappedIpv4).
int ConnectTo(const char* address, uint16_t port) {
  sockaddr_storage peer = {};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&peer);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&peer);
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(*v6);
  } else {
    return -1;
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    // A failed connect leaves the socket unusable: a fresh one each time.
    const int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&peer), length) == 0) {
      return fd;
    }
    close(fd);
    usleep(50 * 1000);
  }
  return -1;
}

void ClientBody(const std::string& ghost_server,
                const std::string& control_server, uint16_t port,
                int64_t interval_ms, int64_t rounds, int report_fd) {
  int fds[2] = {ConnectTo(ghost_server.c_str(), port),
                ConnectTo(control_server.c_str(), port)};
  if (fds[0] < 0 || fds[1] < 0) _exit(3);
  const char ready = 'R';
  if (write(report_fd, &ready, 1) != 1) _exit(4);
  char line[100];
  memset(line, 'x', sizeof(line));
  bool failed[2] = {false, false};
  for (int64_t round = 0; round < rounds && !(failed[0] && failed[1]);
       ++round) {
    for (int c = 0; c < 2; ++c) {
      if (failed[c]) continue;
      // MSG_NOSIGNAL: EPIPE as an errno, not a SIGPIPE that kills us.
      if (send(fds[c], line, sizeof(line), MSG_NOSIGNAL) < 0) {
        const WriteFailure failure{c, errno, MonotonicNs()};
        failed[c] = true;
        if (write(report_fd, &failure, sizeof(failure)) != sizeof(failure)) {
          _exit(5);
        }
      }
    }
    usleep(static_cast<useconds_t>(interval_ms * 1000));
  }
  _exit(0);
}

// Accepts one connection and drains it; on a byte from `command_fd`,
// shuts its write side (the FIN a dying server sends). Polls every 100 ms
// for `rounds` rounds at most.
void ServerBody(uint16_t port, int64_t rounds, int command_fd) {
  // Dual-stack (IPV6_V6ONLY off by default): IPv4 and IPv6 clients alike.
  const int listener = socket(AF_INET6, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in6 local = {};
  local.sin6_family = AF_INET6;
  local.sin6_port = htons(port);
  local.sin6_addr = in6addr_any;
  if (bind(listener, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      listen(listener, 4) != 0) {
    _exit(3);
  }
  const int conn = accept(listener, nullptr, nullptr);
  if (conn < 0) _exit(4);
  char buffer[4096];
  for (int64_t round = 0; round < rounds; ++round) {
    pollfd fds[2] = {{conn, POLLIN, 0}, {command_fd, POLLIN, 0}};
    if (poll(fds, 2, 100) < 0) continue;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (read(conn, buffer, sizeof(buffer)) <= 0) _exit(0);
    }
    if (fds[1].revents & POLLIN) {
      char command;
      if (read(command_fd, &command, 1) == 1) shutdown(conn, SHUT_WR);
    }
  }
  _exit(0);
}

}  // namespace

int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

const char* ErrnoName(int error) {
  switch (error) {
    case ECONNABORTED:
      return "ECONNABORTED";
    case EPIPE:
      return "EPIPE";
    case ECONNRESET:
      return "ECONNRESET";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    default:
      return "other";
  }
}

GhostTopology::GhostTopology(GhostTopologyOptions options)
    : options_(std::move(options)) {
  const int run = ++topology_counter;
  base_ = absl::StrCat(options_.prefix, "-", getpid(), "-", run);
  // A /24 per process and run, in the benchmarking range 198.18/15, which
  // nothing else here uses; only these namespaces are looked at anyway.
  subnet_ = absl::StrCat("198.18.", (getpid() * 7 + run) % 250);
  // Written in decimal digits, read as hex: canonical either way.
  subnet6_ = absl::StrCat("fd00:72:", (getpid() * 7 + run) % 250 + 1);
}

absl::StatusOr<std::unique_ptr<GhostTopology>> GhostTopology::Create(
    GhostTopologyOptions options) {
  if (geteuid() != 0) {
    return absl::UnavailableError(
        "needs root (namespaces, setns, SOCK_DESTROY)");
  }
  if (!RunCommand({"ip", "-V"}).ok()) {
    return absl::UnavailableError("needs iproute2 (`ip`)");
  }
  std::unique_ptr<GhostTopology> topology(
      new GhostTopology(std::move(options)));
  if (absl::Status built = topology->Build(); !built.ok()) return built;
  return topology;
}

GhostTopology::~GhostTopology() {
  for (pid_t pid : pids_) (void)KillAndReap(pid);
  for (int fd : fds_) close(fd);
  for (const std::string& name : netns_) {
    (void)RunCommand({"ip", "netns", "delete", name});
  }
}

std::string GhostTopology::Netns(char role) const {
  return absl::StrCat(base_, "-", std::string(1, role));
}

std::string GhostTopology::Glob() const { return absl::StrCat(base_, "-*"); }

std::string GhostTopology::Address(int host) const {
  if (options_.family == GhostFamily::kIpv6) {
    return absl::StrCat(subnet6_, "::", host);
  }
  return absl::StrCat(subnet_, ".", host);
}

std::string GhostTopology::Destination(int host) const {
  if (options_.family == GhostFamily::kMappedIpv4) {
    return absl::StrCat("::ffff:", Address(host));
  }
  return Address(host);
}

std::string GhostTopology::Subnet() const {
  if (options_.family == GhostFamily::kIpv6) {
    return absl::StrCat(subnet6_, "::/64");
  }
  return absl::StrCat(subnet_, ".0/24");
}

absl::Status GhostTopology::ServerSendsFin() {
  const char command = 'F';
  if (write(command_write_, &command, 1) != 1) {
    return absl::InternalError("cannot reach the server");
  }
  return absl::OkStatus();
}

absl::Status GhostTopology::ServerVanishes() {
  absl::StatusOr<std::string> cut =
      RunCommand({"ip", "-n", Netns('s'), "link", "del", "s-b"});
  if (!cut.ok()) return cut.status();
  if (absl::Status killed = KillAndReap(server_pid_); !killed.ok()) {
    return killed;
  }
  absl::StatusOr<std::string> deleted =
      RunCommand({"ip", "netns", "delete", Netns('b')});
  if (!deleted.ok()) return deleted.status();
  netns_.erase(std::remove(netns_.begin(), netns_.end(), Netns('b')),
               netns_.end());
  return absl::OkStatus();
}

std::optional<WriteFailure> GhostTopology::NextFailure(absl::Duration limit) {
  pollfd readable = {report_read_, POLLIN, 0};
  if (poll(&readable, 1, static_cast<int>(absl::ToInt64Milliseconds(limit))) !=
      1) {
    return std::nullopt;
  }
  WriteFailure failure;
  if (read(report_read_, &failure, sizeof(failure)) != sizeof(failure)) {
    return std::nullopt;
  }
  return failure;
}

absl::Status GhostTopology::Ip(std::vector<std::string> argv) {
  argv.insert(argv.begin(), "ip");
  absl::StatusOr<std::string> out = RunCommand(argv);
  return out.ok() ? absl::OkStatus() : out.status();
}

absl::Status GhostTopology::AddNetns(char role) {
  absl::Status added = Ip({"netns", "add", Netns(role)});
  if (added.ok()) netns_.push_back(Netns(role));
  return added;
}

// A veth from namespace `role` (eth0, `address`) to the switch's bridge.
absl::Status GhostTopology::Attach(char role, const std::string& address) {
  const std::string port = absl::StrCat("s-", std::string(1, role));
  absl::Status s = Ip({"-n", Netns('s'), "link", "add", port, "type", "veth",
                       "peer", "name", "eth0", "netns", Netns(role)});
  if (s.ok()) s = Ip({"-n", Netns('s'), "link", "set", port, "master", "br0"});
  if (s.ok()) s = Ip({"-n", Netns('s'), "link", "set", port, "up"});
  if (s.ok() && options_.family == GhostFamily::kIpv6) {
    // nodad: usable at once, not after duplicate address detection.
    s = Ip({"-n", Netns(role), "addr", "add", address + "/64", "dev", "eth0",
            "nodad"});
  } else if (s.ok()) {
    s = Ip({"-n", Netns(role), "addr", "add", address + "/24", "dev", "eth0"});
  }
  if (s.ok()) s = Ip({"-n", Netns(role), "link", "set", "eth0", "up"});
  if (s.ok()) s = Ip({"-n", Netns(role), "link", "set", "lo", "up"});
  return s;
}

absl::Status GhostTopology::Build() {
  for (char role : {'s', 'a', 'b', 'c'}) {
    if (absl::Status s = AddNetns(role); !s.ok()) return s;
  }
  absl::Status s =
      Ip({"-n", Netns('s'), "link", "add", "br0", "type", "bridge"});
  if (s.ok()) s = Ip({"-n", Netns('s'), "link", "set", "br0", "up"});
  if (s.ok()) s = Attach('a', ClientAddress());
  if (s.ok()) s = Attach('b', GhostServerAddress());
  if (s.ok()) s = Attach('c', ControlServerAddress());
  if (!s.ok()) return s;

  int command[2];
  int report[2];
  if (pipe2(command, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    return absl::InternalError("pipe2");
  }
  fds_ = {command[0], command[1], report[0], report[1]};
  command_write_ = command[1];
  report_read_ = report[0];
  const int command_read = command[0];
  const int report_write = report[1];
  const uint16_t port = options_.port;
  const int64_t interval_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.write_interval));
  const int64_t lifetime_ms = absl::ToInt64Milliseconds(options_.lifetime);
  const int64_t client_rounds = lifetime_ms / interval_ms;
  const int64_t server_rounds = lifetime_ms / 100;

  absl::StatusOr<pid_t> server =
      SpawnInNamespace(Netns('b'), [port, server_rounds, command_read] {
        ServerBody(port, server_rounds, command_read);
      });
  if (!server.ok()) return server.status();
  server_pid_ = *server;
  pids_.push_back(*server);
  // The control server gets its own command pipe, never written to.
  int idle[2];
  if (pipe2(idle, O_CLOEXEC) != 0) return absl::InternalError("pipe2");
  fds_.push_back(idle[0]);
  fds_.push_back(idle[1]);
  const int idle_read = idle[0];
  absl::StatusOr<pid_t> control =
      SpawnInNamespace(Netns('c'), [port, server_rounds, idle_read] {
        ServerBody(port, server_rounds, idle_read);
      });
  if (!control.ok()) return control.status();
  pids_.push_back(*control);
  const std::string ghost = Destination(2);
  const std::string control_address = Destination(3);
  absl::StatusOr<pid_t> client = SpawnInNamespace(
      Netns('a'),
      [ghost, control_address, port, interval_ms, client_rounds, report_write] {
        ClientBody(ghost, control_address, port, interval_ms, client_rounds,
                   report_write);
      });
  if (!client.ok()) return client.status();
  client_pid_ = *client;
  pids_.push_back(*client);

  // Ready: both connections up (bounded: 10 s).
  pollfd ready = {report_read_, POLLIN, 0};
  char byte = 0;
  if (poll(&ready, 1, 10000) != 1 || read(report_read_, &byte, 1) != 1 ||
      byte != 'R') {
    return absl::DeadlineExceededError("the client did not connect");
  }
  return absl::OkStatus();
}

}  // namespace ghostpeer::testing
