// docs/scenario.md's failure, reproduced with network namespaces only: a switch
// namespace with a bridge, a server namespace and client namespaces joined to
// it by veth pairs, none linked to the host's namespace (no test packet can
// leave). The server and the clients are forked children of the test,
// entered into their namespaces with setns(). Then the server's host
// vanishes: link cut first (so nothing it sends while dying reaches the
// clients), process killed, namespace deleted. Its address is gone and no RST
// ever comes back, so the clients' data piles up in their send queues.
//
// Reusable by any test (agent, aggregator, system). Needs root. Namespace
// names are "<prefix><pid>-<n>-<role>", unique per process and scenario, so
// parallel tests never collide; the destructor kills every child and deletes
// every namespace.
#ifndef GHOSTPEER_TESTS_SUPPORT_NETNS_SCENARIO_H_
#define GHOSTPEER_TESTS_SUPPORT_NETNS_SCENARIO_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

enum class ClientMode {
  kWriter,  // writes "log_data <n>\n" every write_interval, forever
  kIdle,    // writes one line after connecting, then never again
};

enum class Transport {
  kTcp,
  // The server binds a datagram socket and reads whatever comes; a client
  // sends "log_data <n>\n" as one datagram per write_interval (kIdle: one)
  // through a socket it connect()ed to the server, ignoring send errors: a
  // connected UDP socket reports ICMP errors (EHOSTUNREACH once the peer's
  // neighbour entry fails) on the next send, and a syslog or statsd client
  // sends on regardless. server_fin_after does not apply.
  kUdp,
};

struct NetnsScenarioOptions {
  bool ipv6 = false;  // fd00:99::/64 instead of 10.99.0.0/24
  // The server shuts its write side (sends FIN) this long after accepting,
  // as a dying server would; the clients go to CLOSE_WAIT. Zero: never (the
  // clients stay ESTABLISHED).
  absl::Duration server_fin_after = absl::Seconds(1);
  int clients = 1;  // each in its own namespace
  ClientMode client_mode = ClientMode::kWriter;
  absl::Duration write_interval = absl::Milliseconds(100);
  uint16_t port = 27017;
  std::string prefix = "gpt";  // namespace name prefix
  Transport transport = Transport::kTcp;
  // kUdp only: the last this many clients never connect(); they send with
  // sendto() (a socket with no peer, which the agent must not report).
  int unconnected_clients = 0;
};

class NetnsScenario {
 public:
  // Builds the namespaces and links, starts the server and the clients and
  // waits (bounded, 10 s) until every client is connected and the server
  // accepted them all. Errors: Unavailable when not root or `ip` is missing
  // (tests GTEST_SKIP on it), others from `ip` or the children; whatever was
  // created is cleaned up.
  static absl::StatusOr<std::unique_ptr<NetnsScenario>> Create(
      NetnsScenarioOptions options);

  // Kills every child (by pid) and deletes every namespace it created.
  ~NetnsScenario();

  NetnsScenario(const NetnsScenario&) = delete;
  NetnsScenario& operator=(const NetnsScenario&) = delete;

  const NetnsScenarioOptions& options() const { return options_; }
  // `ip netns` names (files under /var/run/netns).
  const std::string& switch_netns() const { return switch_netns_; }
  const std::string& server_netns() const { return server_netns_; }
  const std::string& client_netns(int i) const { return clients_[i].netns; }
  // The most recent namespace GiveServerAddressAway() made, or "".
  const std::string& new_owner_netns() const { return new_owner_netns_; }

  std::string server_address() const;       // "10.99.0.2" or "fd00:99::2"
  std::string client_address(int i) const;  // .10 + i
  uint16_t server_port() const { return options_.port; }
  pid_t server_pid() const { return server_pid_; }  // 0 after Vanish()
  pid_t client_pid(int i) const { return clients_[i].pid; }
  int client_count() const { return static_cast<int>(clients_.size()); }

  // The server host disappears: its veth is deleted in the switch namespace
  // first, then the server process is killed (SIGKILL, reaped) and its
  // namespace deleted. FailedPrecondition if already vanished.
  absl::Status Vanish();

  // After Vanish(): a new namespace attached to the switch takes the
  // server's old address (the reassigned variant). It listens on nothing, so
  // the clients' retransmissions now meet a host that resets them.
  absl::Status GiveServerAddressAway();

  // Inode of a namespace by name (stat of /var/run/netns/<name>).
  static absl::StatusOr<uint64_t> NetnsInode(const std::string& netns);

 private:
  struct Client {
    std::string netns;
    pid_t pid = 0;
    int ready_fd = -1;  // read end: the child writes one byte when connected
  };

  explicit NetnsScenario(NetnsScenarioOptions options);
  absl::Status Build();
  absl::Status AddNamespace(const std::string& name);
  absl::Status AttachToSwitch(const std::string& netns,
                              const std::string& switch_port,
                              const std::string& address);
  absl::Status StartServer();
  absl::Status StartClient(Client& client);
  absl::Status WaitReady(int fd, const std::string& what);
  std::string AddressWithSuffix(int host) const;
  std::string Prefixed(const std::string& address) const;

  NetnsScenarioOptions options_;
  std::string base_;  // "<prefix><pid>-<n>"
  std::string switch_netns_;
  std::string server_netns_;
  std::string new_owner_netns_;
  std::vector<std::string> created_netns_;  // still to delete, in order
  std::vector<Client> clients_;
  pid_t server_pid_ = 0;
  int server_ready_fd_ = -1;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_NETNS_SCENARIO_H_
