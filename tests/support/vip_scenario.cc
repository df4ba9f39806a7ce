#include "tests/support/vip_scenario.h"

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
#include "common/errno_status.h"
#include "tests/support/command.h"

namespace ghostpeer::testing {
namespace {

using Commands = std::vector<std::vector<std::string>>;

constexpr int kReadyTimeoutMs = 10'000;
constexpr int kMaxHeld = 256;
// A backend with no new connection for this long ends by itself (if the test
// dies without killing it, PR_SET_PDEATHSIG already did).
constexpr int kChildLifetimeS = 30 * 60;

std::atomic<int> scenario_counter{0};

absl::Status RunAll(const Commands& commands) {
  for (const std::vector<std::string>& argv : commands) {
    absl::StatusOr<std::string> out = RunCommand(argv);
    if (!out.ok()) return out.status();
  }
  return absl::OkStatus();
}

// The wildcard or one address with a port, as a socket address.
sockaddr_in6 SocketAddress(const std::string& ip, uint16_t port) {
  sockaddr_in6 address = {};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port);
  if (ip.find(':') == std::string::npos) {
    // An IPv4 destination from a dual-stack socket: ::ffff:a.b.c.d.
    inet_pton(AF_INET6, ("::ffff:" + ip).c_str(), &address.sin6_addr);
  } else {
    inet_pton(AF_INET6, ip.c_str(), &address.sin6_addr);
  }
  return address;
}

// Child bodies: syscalls only (the parent may be multithreaded).

// Accepts connections and holds them; reads and discards what arrives when
// `read_data`; shuts the write side of every accepted connection when a
// byte arrives on `control_fd`.
void Serve(sockaddr_in6 address, bool read_data, int control_fd) {
  const int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int zero = 0, one = 1;
  setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(listener, 64) != 0) {
    _exit(10);
  }
  pollfd fds[kMaxHeld + 2];
  int held[kMaxHeld + 2];  // the accepted sockets, by fds index
  fds[0] = {listener, POLLIN, 0};
  fds[1] = {control_fd, POLLIN, 0};
  int count = 2;
  char buffer[65536];
  // Held, unread unless `read_data`: a client's line sits in the receive
  // queue. A connection that ended is no longer polled (a negative fd),
  // or its POLLHUP would spin this loop.
  for (int idle_ms = 0; idle_ms < kChildLifetimeS * 1000;) {
    if (poll(fds, count, 100) == 0) {
      idle_ms += 100;
      continue;
    }
    idle_ms = 0;
    if ((fds[0].revents & POLLIN) && count < kMaxHeld + 2) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        held[count] = fd;
        fds[count++] = {fd, static_cast<short>(read_data ? POLLIN : 0), 0};
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char byte;
      if (read(control_fd, &byte, 1) != 1) fds[1].fd = -1;
      for (int i = 2; i < count; ++i) shutdown(held[i], SHUT_WR);
    }
    for (int i = 2; i < count; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      if ((fds[i].revents & (POLLHUP | POLLERR)) ||
          ((fds[i].revents & POLLIN) &&
           recv(held[i], buffer, sizeof(buffer), MSG_DONTWAIT) == 0)) {
        fds[i].fd = -1;
      }
    }
  }
  _exit(0);
}

// Connects to the VIP, sends a line, reports; then holds the socket
// (`interval_ms` 0) or sends 200 bytes every `interval_ms` until a send
// fails.
void ConnectAndWrite(sockaddr_in6 vip, int64_t interval_ms, int ready_fd) {
  // The backend may still be starting to listen: retry for up to 5 s.
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (connect(fd, reinterpret_cast<sockaddr*>(&vip), sizeof(vip)) != 0) {
      close(fd);
      fd = -1;
      const timespec pause_50ms = {0, 50'000'000};
      nanosleep(&pause_50ms, nullptr);
    }
  }
  if (fd < 0) _exit(20);
  const char line[] = "hello through the VIP\n";
  if (send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL) < 0) _exit(21);
  const char ready = 'C';
  if (write(ready_fd, &ready, 1) != 1) _exit(22);
  close(ready_fd);
  if (interval_ms <= 0) pause();  // until the destructor's SIGKILL
  char payload[200];
  memset(payload, 'v', sizeof(payload));
  const timespec interval = {static_cast<time_t>(interval_ms / 1000),
                             static_cast<long>(interval_ms % 1000) * 1000000};
  for (int64_t slept_ms = 0; slept_ms < int64_t{kChildLifetimeS} * 1000;
       slept_ms += interval_ms) {
    if (send(fd, payload, sizeof(payload), MSG_NOSIGNAL) < 0) _exit(23);
    nanosleep(&interval, nullptr);
  }
  _exit(0);
}

}  // namespace

VipScenario::VipScenario(VipScenarioOptions options)
    : options_(std::move(options)),
      base_(absl::StrCat(options_.prefix, getpid(), "-",
                         scenario_counter.fetch_add(1))),
      client_netns_(base_ + "-cli"),
      router_netns_(base_ + "-rtr") {
  for (int i = 1; i <= options_.backends; ++i) {
    backend_netns_.push_back(absl::StrCat(base_, "-be", i));
  }
}

absl::StatusOr<std::unique_ptr<VipScenario>> VipScenario::Create(
    VipScenarioOptions options) {
  if (geteuid() != 0) {
    return absl::UnavailableError("network namespaces and iptables need root");
  }
  if (options.backends < 1 || options.backends > 9) {
    return absl::InvalidArgumentError("backends must be 1..9");
  }
  if (options.ipvs) {
    // Loads the module where it is one; where the kernel has no IPVS at all
    // the file below stays missing.
    RunCommand({"modprobe", "ip_vs"}).status().IgnoreError();
    if (access("/proc/net/ip_vs", F_OK) != 0) {
      return absl::UnavailableError(
          "this kernel has no IPVS (/proc/net/ip_vs missing after modprobe "
          "ip_vs)");
    }
    if (!RunCommand({"ipvsadm", "--version"}).ok()) {
      return absl::UnavailableError(
          "needs `ipvsadm` (scripts/install-deps.sh)");
    }
  }
  const char* iptables = options.ipv6 ? "ip6tables" : "iptables";
  if (!RunCommand({"ip", "-V"}).ok() || !RunCommand({iptables, "-V"}).ok()) {
    return absl::UnavailableError(
        absl::StrCat("needs `ip` (iproute2) and `", iptables, "`"));
  }
  std::unique_ptr<VipScenario> scenario(new VipScenario(std::move(options)));
  absl::Status status = scenario->Build();
  if (!status.ok()) return status;  // the destructor cleans up
  return scenario;
}

std::string VipScenario::vip() const {
  return options_.ipv6 ? "fd00:77:9::9" : "10.77.9.9";
}

std::string VipScenario::client_address() const {
  return options_.ipv6 ? "fd00:77:1::2" : "10.77.1.2";
}

std::string VipScenario::backend_address(int backend) const {
  return options_.ipv6 ? absl::StrCat("fd00:77:2::", 10 + backend)
                       : absl::StrCat("10.77.2.", 10 + backend);
}

std::vector<std::string> VipScenario::Iptables() const {
  return {"ip", "netns", "exec", router_netns_,
          options_.ipv6 ? "ip6tables" : "iptables"};
}

std::string VipScenario::Endpoint(const std::string& ip) const {
  return options_.ipv6 ? absl::StrCat("[", ip, "]:", options_.port)
                       : absl::StrCat(ip, ":", options_.port);
}

absl::Status VipScenario::RealServer(const std::string& op, int backend) {
  std::vector<std::string> argv = {
      "ip",      "netns",
      "exec",    router_netns_,
      "ipvsadm", op,
      "-t",      Endpoint(vip()),
      "-r",      Endpoint(backend_address(backend))};
  if (op == "-a") argv.push_back("-m");  // masquerade, as swarm's lb_
  return RunCommand(argv).status();
}

std::vector<std::string> VipScenario::DnatRule(int backend) const {
  const std::string to =
      options_.ipv6
          ? absl::StrCat("[", backend_address(backend), "]:", options_.port)
          : absl::StrCat(backend_address(backend), ":", options_.port);
  return {"-d",  vip(),     "-p",
          "tcp", "--dport", absl::StrCat(options_.port),
          "-j",  "DNAT",    "--to-destination",
          to};
}

absl::Status VipScenario::AddNamespace(const std::string& name) {
  absl::StatusOr<std::string> out = RunCommand({"ip", "netns", "add", name});
  if (!out.ok()) return out.status();
  created_netns_.push_back(name);
  absl::Status status = RunAll({{"ip", "-n", name, "link", "set", "lo", "up"}});
  if (!status.ok()) return status;
  // Without duplicate address detection the IPv6 addresses (link-local
  // ones too, which neighbour discovery needs) are usable at once.
  return WriteSysctlsIn(name, {{"net.ipv6.conf.all.accept_dad", "0"},
                               {"net.ipv6.conf.default.accept_dad", "0"}});
}

absl::Status VipScenario::Build() {
  for (const std::string& name : {client_netns_, router_netns_}) {
    absl::Status status = AddNamespace(name);
    if (!status.ok()) return status;
  }
  const bool v6 = options_.ipv6;
  const std::string family = v6 ? "-6" : "-4";
  const std::string plen = v6 ? "/64" : "/24";
  const std::string net1 = v6 ? "fd00:77:1::" : "10.77.1.";
  const std::string net2 = v6 ? "fd00:77:2::" : "10.77.2.";
  Commands commands = {
      // The veth pair is made in the client's namespace with its peer moved
      // straight into the router's: nothing ever sits in the host's.
      {"ip", "-n", client_netns_, "link", "add", "c0", "type", "veth", "peer",
       "name", "r0", "netns", router_netns_},
      {"ip", "-n", router_netns_, "link", "add", "br0", "type", "bridge"},
      // A bridge takes the lowest MAC of its ports unless given one: when
      // Vanish() removes a port it would change, and the other backends'
      // neighbour entries for the router would point nowhere until they
      // are re-resolved (seconds; a new connection's SYNs lost meanwhile).
      {"ip", "-n", router_netns_, "link", "set", "br0", "address",
       "02:77:00:00:00:01"},
      {"ip", "-n", client_netns_, "addr", "add", net1 + "2" + plen, "dev",
       "c0"},
      {"ip", "-n", client_netns_, "link", "set", "c0", "up"},
      {"ip", "-n", client_netns_, family, "route", "add", "default", "via",
       net1 + "1"},
      {"ip", "-n", router_netns_, "addr", "add", net1 + "1" + plen, "dev",
       "r0"},
      {"ip", "-n", router_netns_, "addr", "add", net2 + "1" + plen, "dev",
       "br0"},
      {"ip", "-n", router_netns_, "link", "set", "r0", "up"},
      {"ip", "-n", router_netns_, "link", "set", "br0", "up"},
  };
  if (options_.ipvs) {
    // Swarm's lb_ namespace: the VIP is a local address of the balancer,
    // and with vs/conntrack=1 conntrack tracks the flows IPVS forwards.
    commands.push_back({"ip", "-n", router_netns_, "addr", "add",
                        vip() + (v6 ? "/128" : "/32"), "dev", "lo"});
  } else {
    std::vector<std::string> append = Iptables();
    for (const char* arg : {"-t", "nat", "-A", "PREROUTING"}) {
      append.push_back(arg);
    }
    for (std::string& arg : DnatRule(1)) append.push_back(std::move(arg));
    commands.push_back(append);
  }
  absl::Status status = RunAll(commands);
  if (!status.ok()) return status;
  status = WriteSysctlsIn(
      router_netns_,
      {{v6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward", "1"}});
  if (!status.ok()) return status;
  if (options_.ipvs) {
    status = WriteSysctlsIn(router_netns_, {{"net.ipv4.vs.conntrack", "1"}});
    if (!status.ok()) return status;
    status = RunAll({{"ip", "netns", "exec", router_netns_, "ipvsadm", "-A",
                      "-t", Endpoint(vip()), "-s", "rr"}});
    if (!status.ok()) return status;
  }
  for (int i = 1; i <= options_.backends; ++i) {
    const std::string& ns = backend_netns(i);
    const std::string port = absl::StrCat("rb", i);
    status = AddNamespace(ns);
    if (!status.ok()) return status;
    status = RunAll({
        {"ip", "-n", ns, "link", "add", "b0", "type", "veth", "peer", "name",
         port, "netns", router_netns_},
        {"ip", "-n", router_netns_, "link", "set", port, "master", "br0"},
        {"ip", "-n", router_netns_, "link", "set", port, "up"},
        {"ip", "-n", ns, "addr", "add", backend_address(i) + plen, "dev", "b0"},
        {"ip", "-n", ns, "link", "set", "b0", "up"},
        {"ip", "-n", ns, family, "route", "add", "default", "via", net2 + "1"},
    });
    if (!status.ok()) return status;
    status = StartBackend(i);
    if (!status.ok()) return status;
  }
  if (options_.ipvs) return RealServer("-a", 1);
  return absl::OkStatus();
}

absl::Status VipScenario::StartBackend(int backend) {
  const sockaddr_in6 any = SocketAddress("::", options_.port);
  int control[2];
  if (pipe2(control, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  const int read_end = control[0];
  const bool read_data = options_.client_write_interval > absl::ZeroDuration();
  absl::StatusOr<pid_t> pid = SpawnInNamespace(
      backend_netns(backend), [=] { Serve(any, read_data, read_end); });
  close(control[0]);
  servers_.push_back(pid.ok() ? *pid : 0);
  server_controls_.push_back(control[1]);
  if (!pid.ok()) return pid.status();
  return absl::OkStatus();
}

absl::StatusOr<pid_t> VipScenario::ConnectClient() {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  const sockaddr_in6 target = SocketAddress(vip(), options_.port);
  const int write_end = ready[1];
  const int64_t interval_ms =
      absl::ToInt64Milliseconds(options_.client_write_interval);
  absl::StatusOr<pid_t> pid =
      SpawnInNamespace(client_netns_, [target, interval_ms, write_end] {
        ConnectAndWrite(target, interval_ms, write_end);
      });
  close(ready[1]);
  if (!pid.ok()) {
    close(ready[0]);
    return pid.status();
  }
  children_.push_back(*pid);
  // A child that could not connect exits, closing the pipe: read() gives 0.
  pollfd pfd = {ready[0], POLLIN, 0};
  char byte = 0;
  const bool connected =
      poll(&pfd, 1, kReadyTimeoutMs) == 1 && read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  if (!connected) {
    return absl::DeadlineExceededError(
        absl::StrCat("client to ", vip(), ":", options_.port,
                     " not connected within ", kReadyTimeoutMs, " ms"));
  }
  return *pid;
}

absl::Status VipScenario::RepointVip(int backend) {
  if (backend < 1 || backend > options_.backends) {
    return absl::InvalidArgumentError(absl::StrCat("no backend ", backend));
  }
  if (options_.ipvs) {
    if (backend == vip_backend_) return absl::OkStatus();
    absl::Status status = RealServer("-a", backend);
    if (!status.ok()) return status;
    status = RealServer("-d", vip_backend_);
    if (status.ok()) vip_backend_ = backend;
    return status;
  }
  std::vector<std::string> replace = Iptables();
  for (const char* arg : {"-t", "nat", "-R", "PREROUTING", "1"}) {
    replace.push_back(arg);
  }
  for (std::string& arg : DnatRule(backend)) replace.push_back(std::move(arg));
  return RunCommand(replace).status();
}

absl::Status VipScenario::SendFin(int backend) {
  if (backend < 1 || backend > options_.backends ||
      servers_[backend - 1] == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", backend, " is not running"));
  }
  const char byte = 'F';
  if (write(server_controls_[backend - 1], &byte, 1) != 1) {
    return ErrnoToStatus(errno, "write to the server's control pipe");
  }
  return absl::OkStatus();
}

absl::Status VipScenario::Vanish(int backend) {
  if (backend < 1 || backend > options_.backends ||
      servers_[backend - 1] == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", backend, " is already gone"));
  }
  // Silence first, then the link: nothing the dying server's kernel sends
  // (FIN, or RST for unread data) may reach the client, and the router must
  // not answer the client's retransmissions with "host unreachable".
  absl::Status status = RunAll(
      {{"ip", "-n", router_netns_, "neigh", "replace", backend_address(backend),
        "lladdr", "02:00:00:00:00:99", "dev", "br0", "nud", "permanent"},
       {"ip", "-n", router_netns_, "link", "del",
        absl::StrCat("rb", backend)}});
  if (!status.ok()) return status;
  status = KillAndReap(servers_[backend - 1]);
  if (!status.ok()) return status;
  servers_[backend - 1] = 0;
  close(server_controls_[backend - 1]);
  server_controls_[backend - 1] = -1;
  const std::string& netns = backend_netns(backend);
  status = RunCommand({"ip", "netns", "del", netns}).status();
  if (!status.ok()) return status;
  created_netns_.erase(
      std::remove(created_netns_.begin(), created_netns_.end(), netns),
      created_netns_.end());
  return absl::OkStatus();
}

VipScenario::~VipScenario() {
  for (pid_t pid : children_) KillAndReap(pid).IgnoreError();
  for (pid_t pid : servers_) {
    if (pid > 0) KillAndReap(pid).IgnoreError();
  }
  for (int fd : server_controls_) {
    if (fd >= 0) close(fd);
  }
  for (auto it = created_netns_.rbegin(); it != created_netns_.rend(); ++it) {
    RunCommand({"ip", "netns", "del", *it}).status().IgnoreError();
  }
}

}  // namespace ghostpeer::testing
