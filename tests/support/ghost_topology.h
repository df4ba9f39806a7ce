// A ghost-to-be next to a healthy control connection, in private network
// namespaces: the ground of the guarded-remediation tests (issue 11), from
// the agent's executor up to the whole system.
//
// Four namespaces <prefix>-<pid>-<n>-{s,a,b,c}: a switch `s` with a bridge;
// the client namespace `a`; the server namespace `b`, which vanishes; the
// control server namespace `c`, which stays. None is linked to the host's
// namespace (no test packet can leave). One client process in `a` writes
// every write_interval to the server in `b` (the ghost) and to the server in
// `c` (the control), and reports every failed write (which connection,
// errno, CLOCK_MONOTONIC time) on a pipe: the first error the client
// application sees, which is what ends its silent loss.
//
// Needs root. The destructor kills every child (by pid) and deletes every
// namespace (by name).
#ifndef GHOSTPEER_TESTS_SUPPORT_GHOST_TOPOLOGY_H_
#define GHOSTPEER_TESTS_SUPPORT_GHOST_TOPOLOGY_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

// How the topology's sockets address each other.
enum class GhostFamily {
  kIpv4,
  kIpv6,
  // IPv4 on the wire, but the client's socket is AF_INET6 connected to
  // ::ffff:a.b.c.d (a dual-stack client): the agent reports it as IPv4, and
  // an order must still find and destroy it.
  kMappedIpv4,
};

// The client's two connections, as named in WriteFailure::connection.
enum GhostConnection : int32_t { kGhost = 0, kControl = 1 };

// What the client reports on its pipe.
struct WriteFailure {
  int32_t connection;  // a GhostConnection
  int32_t error;       // errno of the failed send()
  int64_t monotonic_ns;
};

struct GhostTopologyOptions {
  std::string prefix = "gp-it-rm";  // namespace names start with it
  GhostFamily family = GhostFamily::kIpv4;
  uint16_t port = 9000;  // both servers'
  absl::Duration write_interval = absl::Milliseconds(100);
  // The children end by themselves after this, even if nobody kills them
  // (they also die with the test: PR_SET_PDEATHSIG).
  absl::Duration lifetime = absl::Seconds(90);
};

// CLOCK_MONOTONIC now, in the unit WriteFailure uses.
int64_t MonotonicNs();

// "ECONNABORTED", "EPIPE", "ECONNRESET", "ETIMEDOUT" or "other".
const char* ErrnoName(int error);

class GhostTopology {
 public:
  // Builds the namespaces and links, starts both servers and the client and
  // waits (bounded, 10 s) until both connections are up. Unavailable when
  // not root or `ip` is missing (tests GTEST_SKIP on it); whatever was
  // created is cleaned up on any error.
  static absl::StatusOr<std::unique_ptr<GhostTopology>> Create(
      GhostTopologyOptions options = {});

  ~GhostTopology();
  GhostTopology(const GhostTopology&) = delete;
  GhostTopology& operator=(const GhostTopology&) = delete;

  // `ip netns` name of the namespace with `role` 's', 'a', 'b' or 'c'.
  std::string Netns(char role) const;
  // A glob matching all four (for an agent's --netns-only).
  std::string Glob() const;
  // The address of host 1 (client), 2 (server), 3 (control server), as the
  // agent reports it.
  std::string Address(int host) const;
  // What the client connects to (IPv4-mapped for kMappedIpv4).
  std::string Destination(int host) const;
  std::string ClientAddress() const { return Address(1); }
  std::string GhostServerAddress() const { return Address(2); }
  std::string ControlServerAddress() const { return Address(3); }
  // The topology's subnet, "198.18.x.0/24" or "fd00:72:x::/64" (for an
  // agent's --cluster-cidr: a network several nodes reach).
  std::string Subnet() const;
  uint16_t port() const { return options_.port; }
  pid_t client_pid() const { return client_pid_; }

  // The ghost server's FIN (it keeps reading: the client goes CLOSE_WAIT
  // and its writes are still acknowledged).
  absl::Status ServerSendsFin();

  // The ghost server's host vanishes: link cut first (so nothing it sends
  // while dying reaches the client), then the process killed, then the
  // namespace deleted. The address is held by no namespace afterwards.
  absl::Status ServerVanishes();

  // The next failure the client reports within `limit`, if any.
  std::optional<WriteFailure> NextFailure(absl::Duration limit);

 private:
  explicit GhostTopology(GhostTopologyOptions options);
  absl::Status Ip(std::vector<std::string> argv);
  absl::Status AddNetns(char role);
  absl::Status Attach(char role, const std::string& address);
  absl::Status Build();

  const GhostTopologyOptions options_;
  std::string base_;
  std::string subnet_;
  std::string subnet6_;
  std::vector<std::string> netns_;  // still to delete
  std::vector<pid_t> pids_;
  std::vector<int> fds_;
  pid_t server_pid_ = 0;
  pid_t client_pid_ = 0;
  int command_write_ = -1;
  int report_read_ = -1;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_GHOST_TOPOLOGY_H_
