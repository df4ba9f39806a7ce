// A "VIP" made with an iptables DNAT rule in a router namespace, as in
// ../shared/NOTES-vip-nat.md §5 (kube-proxy style; Swarm's IPVS is not in
// every kernel): a client namespace, a router namespace whose PREROUTING
// DNATs VIP:port to backend 1, and backend namespaces behind the router's
// bridge. None is linked to the host's namespace. The translation lives in
// the router's conntrack table, the client's socket names the VIP.
//
//   client 10.77.1.2 --- r0 10.77.1.1 [router] br0 10.77.2.1 --- backend i
//   (fd00:77:1::2)        (fd00:77:1::1)        (fd00:77:2::1)    .10 + i
//   VIP 10.77.9.9 / fd00:77:9::9, assigned nowhere.
//
// Needs root, iproute2 and iptables/ip6tables. Namespace names are
// "<prefix><pid>-<n>-<role>"; the destructor kills every child by pid and
// deletes every namespace.
#ifndef GHOSTPEER_TESTS_SUPPORT_VIP_SCENARIO_H_
#define GHOSTPEER_TESTS_SUPPORT_VIP_SCENARIO_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

struct VipScenarioOptions {
  bool ipv6 = false;  // the IPv6 addresses and an ip6tables rule
  int backends = 2;   // 1..9; the VIP starts pointing at backend 1
  uint16_t port = 8080;
  std::string prefix = "gp-it-vip";
  // Zero: a client sends one line and holds the socket. Otherwise it sends
  // 200 bytes this often until a send fails (a writer whose data piles up
  // once its backend is gone), and the backends read what arrives.
  absl::Duration client_write_interval = absl::ZeroDuration();
  // The router balances with IPVS instead of an iptables DNAT rule, as
  // Docker swarm's lb_ namespace does: the VIP a local address of the
  // router, an IPVS service (rr) with masquerading real servers, and
  // vs/conntrack=1. Create() answers Unavailable where the kernel has no
  // IPVS ("this kernel has no IPVS") or ipvsadm is missing.
  bool ipvs = false;
};

class VipScenario {
 public:
  // Builds the namespaces, the DNAT rule and a listening server in every
  // backend (it accepts and holds connections, never reads). Errors:
  // Unavailable when not root or ip/iptables are missing (tests skip on
  // it); others from the commands; whatever was made is removed.
  static absl::StatusOr<std::unique_ptr<VipScenario>> Create(
      VipScenarioOptions options);
  ~VipScenario();

  VipScenario(const VipScenario&) = delete;
  VipScenario& operator=(const VipScenario&) = delete;

  // Forks a client in the client namespace that connects to VIP:port, sends
  // one line and then holds the socket open; waits (bounded, 10 s) until it
  // is connected. Returns its pid (killed by the destructor).
  absl::StatusOr<pid_t> ConnectClient();

  // Points the VIP at backend `backend` (1-based) for NEW connections;
  // existing ones keep their conntrack (or IPVS) entry.
  absl::Status RepointVip(int backend);

  // The server of `backend` shuts the write side (sends FIN) of every
  // connection it accepted, as a dying server would. The clients go to
  // CLOSE_WAIT. FailedPrecondition once the backend vanished.
  absl::Status SendFin(int backend);

  // `backend` disappears without a sound: the router's neighbour entry for
  // it is pinned to a MAC nobody has (no failed ARP, so no ICMP error: as
  // over an overlay), its link is cut (whatever its dying kernel sends
  // reaches nobody), its server killed and its namespace deleted. The
  // router's conntrack keeps the flows to it for as long as the clients'
  // retransmissions refresh them. FailedPrecondition if already gone.
  absl::Status Vanish(int backend);

  // A glob (`--netns-only`) matching every namespace of the scenario, and
  // the range of all its addresses (`--cluster-cidr`).
  std::string netns_glob() const { return base_ + "-*"; }
  std::string cidr() const {
    return options_.ipv6 ? "fd00:77::/32" : "10.77.0.0/16";
  }

  // `ip netns` names (files under /var/run/netns).
  const std::string& client_netns() const { return client_netns_; }
  const std::string& router_netns() const { return router_netns_; }
  const std::string& backend_netns(int backend) const {
    return backend_netns_[backend - 1];
  }

  std::string vip() const;             // "10.77.9.9" / "fd00:77:9::9"
  std::string client_address() const;  // "10.77.1.2" / "fd00:77:1::2"
  std::string backend_address(int backend) const;  // .11 / ::11 for 1
  uint16_t port() const { return options_.port; }

 private:
  explicit VipScenario(VipScenarioOptions options);
  absl::Status Build();
  absl::Status AddNamespace(const std::string& name);
  absl::Status StartBackend(int backend);
  std::vector<std::string> Iptables() const;  // iptables or ip6tables argv
  std::vector<std::string> DnatRule(int backend) const;
  std::string Endpoint(const std::string& ip) const;  // "[ip]:port" for v6
  // ipvsadm in the router: `op` ("-a" or "-d") the real server `backend`.
  absl::Status RealServer(const std::string& op, int backend);

  VipScenarioOptions options_;
  std::string base_;
  std::string client_netns_;
  std::string router_netns_;
  std::vector<std::string> backend_netns_;
  std::vector<std::string> created_netns_;
  std::vector<pid_t> children_;
  // Per backend (index backend - 1): its server's pid (0 once vanished) and
  // the write end of its control pipe (one byte: send FINs).
  std::vector<pid_t> servers_;
  std::vector<int> server_controls_;
  int vip_backend_ = 1;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_VIP_SCENARIO_H_
