#include "tests/support/vip_scenario.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

void HoldConnections(sockaddr_in6 address) {
  const int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int zero = 0, one = 1;
  setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
          0 ||
      listen(listener, 64) != 0) {
    _exit(10);
  }
  // Held, never read: the client's one line sits in the receive queue.
  int held[kMaxHeld];
  for (int count = 0; count < kMaxHeld;) {
    pollfd pfd = {listener, POLLIN, 0};
    if (poll(&pfd, 1, kChildLifetimeS * 1000) <= 0) _exit(0);
    const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) held[count++] = fd;
  }
  (void)held;
  pause();
}

void ConnectAndHold(sockaddr_in6 vip, int ready_fd) {
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
  pause();  // until the destructor's SIGKILL (or the parent's death)
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
  // Without duplicate address detection the IPv6 addresses (link-local
  // ones too, which neighbour discovery needs) are usable at once.
  return RunAll({{"ip", "-n", name, "link", "set", "lo", "up"},
                 {"ip", "netns", "exec", name, "sysctl", "-qw",
                  "net.ipv6.conf.all.accept_dad=0",
                  "net.ipv6.conf.default.accept_dad=0"}});
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
      {"ip", "netns", "exec", router_netns_, "sysctl", "-qw",
       v6 ? "net.ipv6.conf.all.forwarding=1" : "net.ipv4.ip_forward=1"},
  };
  std::vector<std::string> append = Iptables();
  for (const char* arg : {"-t", "nat", "-A", "PREROUTING"}) {
    append.push_back(arg);
  }
  for (std::string& arg : DnatRule(1)) append.push_back(std::move(arg));
  commands.push_back(append);
  absl::Status status = RunAll(commands);
  if (!status.ok()) return status;
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
  return absl::OkStatus();
}

absl::Status VipScenario::StartBackend(int backend) {
  const sockaddr_in6 any = SocketAddress("::", options_.port);
  absl::StatusOr<pid_t> pid =
      SpawnInNamespace(backend_netns(backend), [any] { HoldConnections(any); });
  if (!pid.ok()) return pid.status();
  children_.push_back(*pid);
  return absl::OkStatus();
}

absl::StatusOr<pid_t> VipScenario::ConnectClient() {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe2");
  const sockaddr_in6 target = SocketAddress(vip(), options_.port);
  const int write_end = ready[1];
  absl::StatusOr<pid_t> pid = SpawnInNamespace(
      client_netns_,
      [target, write_end] { ConnectAndHold(target, write_end); });
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
  std::vector<std::string> replace = Iptables();
  for (const char* arg : {"-t", "nat", "-R", "PREROUTING", "1"}) {
    replace.push_back(arg);
  }
  for (std::string& arg : DnatRule(backend)) replace.push_back(std::move(arg));
  return RunCommand(replace).status();
}

VipScenario::~VipScenario() {
  for (pid_t pid : children_) KillAndReap(pid).IgnoreError();
  for (auto it = created_netns_.rbegin(); it != created_netns_.rend(); ++it) {
    RunCommand({"ip", "netns", "del", *it}).status().IgnoreError();
  }
}

}  // namespace ghostpeer::testing
