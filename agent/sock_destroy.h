// Guarded remediation (issue 11): ending a ghost connection by destroying
// the client's socket with SOCK_DESTROY, so that the client's next write()
// fails (ECONNABORTED) instead of retrying into the void for ~15 minutes.
//
// The aggregator decides; this is the agent's half. Every order is re-checked
// on the spot, because the aggregator's view is seconds old and a wrong
// destroy breaks a live connection:
//   1. the order is well-formed and remediation is enabled;
//   2. neither the peer nor the socket's remote address is loopback or
//      unspecified (a node-local peer is never a ghost of a departed one);
//   3. the socket still exists in that namespace with the same inode, cookie
//      and 4-tuple (an INET_DIAG get for exactly that tuple and cookie);
//   4. the peer address is held by no namespace of this node (rtnetlink
//      address dumps of every namespace; a namespace that cannot be read
//      refuses the order: absence of evidence is not evidence);
//   5. SOCK_DESTROY for exactly that socket (the kernel matches the cookie),
//      unless the order is a dry run.
//
// Pure parts (order parsing, request building, reply parsing and the
// judgement of each step) are free functions; the kernel is behind
// RemediationHost so the executor's decisions are unit-tested with a fake.
#ifndef GHOSTPEER_AGENT_SOCK_DESTROY_H_
#define GHOSTPEER_AGENT_SOCK_DESTROY_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "agent/namespace_worker.h"
#include "agent/namespaces.h"
#include "agent/netlink.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

// SOCK_DESTROY from linux/sock_diag.h (Debian 12's header has it; named
// here so the number is visible where it is used).
inline constexpr uint16_t kSockDestroy = 21;

// Bounds on the strings an order may carry (they come from the network).
inline constexpr size_t kMaxOrderIdLength = 128;
inline constexpr size_t kMaxFindingIdLength = 256;

// What an order names, checked and in canonical form.
struct RemediationTarget {
  std::string order_id;
  uint64_t netns_inode = 0;
  int family = 0;  // AF_INET or AF_INET6 of the 4-tuple (both the same)
  std::array<uint8_t, 16> local{};   // network byte order; 4 used for AF_INET
  std::array<uint8_t, 16> remote{};  // network byte order
  std::string local_ip;              // canonical text (FormatInetAddress)
  std::string remote_ip;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint64_t inode = 0;
  uint64_t cookie = 0;
  std::string peer_ip;  // canonical text
  bool dry_run = false;
};

// Checks a RemediationOrder (hostile bytes from the network): non-empty
// bounded ids, a namespace inode, parseable addresses of one family (IPv4
// or IPv6; IPv4-mapped IPv6 counts as IPv4), ports 1..65535, non-zero socket
// inode and cookie, a parseable peer_ip. Errors: InvalidArgument naming the
// field (values quoted escaped and cut).
absl::StatusOr<RemediationTarget> ParseRemediationOrder(
    const v1::RemediationOrder& order);

// Canonical text of an address ("10.0.0.1", "fd00::1"; IPv4-mapped IPv6 as
// IPv4), or "" when `text` is no address.
std::string CanonicalInetAddress(const std::string& text);

// SOCK_DIAG_BY_FAMILY without NLM_F_DUMP: asks for exactly the socket with
// `target`'s 4-tuple and cookie (the kernel answers one inet_diag_msg, or
// NLMSG_ERROR ENOENT when no socket has the tuple, ESTALE when one has it
// with another cookie).
std::vector<uint8_t> BuildSocketQueryRequest(const RemediationTarget& target,
                                             uint32_t seq);

// SOCK_DESTROY with NLM_F_ACK for exactly that socket (same inet_diag_req_v2
// as the query, cookie included, so a reused 4-tuple is never hit).
std::vector<uint8_t> BuildSockDestroyRequest(const RemediationTarget& target,
                                             uint32_t seq);

// The answer to one non-dump sock_diag request.
struct SockDiagSingleReply {
  bool complete = false;  // a record or an NLMSG_ERROR (ack included) came
  int error = 0;          // errno of the NLMSG_ERROR; 0: ack or a record
  std::optional<v1::SocketRecord> record;
  uint32_t foreign_messages = 0;  // other seq/port id: ignored
};

// Parses one receive buffer; stops at the first answer (later messages are
// ignored). Errors: DataLoss when the framing is broken, an NLMSG_ERROR has
// no code or its code is no errno, or a record is too short to parse.
absl::Status ParseSockDiagSingleReplyInto(absl::Span<const uint8_t> buffer,
                                          const NetlinkExpect& expect,
                                          SockDiagSingleReply* reply);

// What asking for the order's socket found.
struct SocketLookup {
  bool namespace_found = true;  // false: no namespace with that inode now
  int error = 0;  // errno of the kernel's answer (ENOENT, ESTALE, ...)
  std::optional<v1::SocketRecord> record;  // when error == 0
};

// Who holds an address on this node.
struct AddressScan {
  // "inode 4026532625 (name)" of every namespace holding the address.
  std::vector<std::string> holders;
  // "inode N: why" of every namespace whose addresses could not be read (or
  // only an interrupted, possibly incomplete, list).
  std::vector<std::string> unreadable;
};

// One decision: the outcome kind, why, and the errno when one is involved.
struct Verdict {
  v1::RemediationOutcomeKind kind = v1::REMEDIATION_OUTCOME_UNSPECIFIED;
  std::string detail;
  int error_number = 0;
};

// Step 2: refuses loopback or unspecified peers and remote addresses.
std::optional<Verdict> JudgePeerAddress(const RemediationTarget& target);
// Step 3: nullopt when the lookup found exactly the socket the order names.
std::optional<Verdict> JudgeSocketLookup(const RemediationTarget& target,
                                         const SocketLookup& lookup);
// Step 4: nullopt when no namespace holds the peer and all were read.
std::optional<Verdict> JudgeAddressScan(const RemediationTarget& target,
                                        const AddressScan& scan);
// Step 5: the kernel's answer to SOCK_DESTROY (0 = done).
Verdict JudgeDestroy(const RemediationTarget& target, int error);

// The kernel, as the executor needs it. Implementations are called from one
// thread at a time (the executor serialises).
class RemediationHost {
 public:
  virtual ~RemediationHost() = default;
  // Asks, inside namespace target.netns_inode, for exactly the target
  // socket. Errors: when the question could not be asked (entering the
  // namespace, opening the diag socket, a broken reply).
  virtual absl::StatusOr<SocketLookup> LookUp(
      const RemediationTarget& target) = 0;
  // Every namespace of the node that holds `address` (canonical text).
  // Errors: when the namespaces cannot be listed at all.
  virtual absl::StatusOr<AddressScan> FindHolders(
      const std::string& address) = 0;
  // SOCK_DESTROY inside target.netns_inode; returns the kernel's errno (0 =
  // destroyed). Errors: when the request could not be made.
  virtual absl::StatusOr<int> Destroy(const RemediationTarget& target) = 0;
};

// Lists the namespaces a remediation may look at: the injectable seam (tests
// restrict it to their own namespaces).
using NamespaceLister =
    std::function<absl::StatusOr<std::vector<NetnsEntry>>()>;

// The node's namespaces as the snapshotter sees them (ListNamespaces), kept
// to those whose `ip netns` name matches one of `netns_only` when it is not
// empty (the same scope as SnapshotterOptions::netns_only).
NamespaceLister NodeNamespaceLister(NamespaceListOptions options,
                                    std::vector<std::string> netns_only);

// The real host: sock_diag and rtnetlink sockets opened inside each
// namespace on a dedicated NamespaceWorker thread (the only thread that
// calls setns). Needs CAP_SYS_ADMIN to enter namespaces and CAP_NET_ADMIN
// for SOCK_DESTROY (without it: EPERM, reported as FAILED).
class LinuxRemediationHost final : public RemediationHost {
 public:
  // Starts the worker thread. Errors: the worker's start failure.
  static absl::StatusOr<std::unique_ptr<LinuxRemediationHost>> Create(
      NamespaceLister lister);

  absl::StatusOr<SocketLookup> LookUp(const RemediationTarget& target) override;
  absl::StatusOr<AddressScan> FindHolders(const std::string& address) override;
  absl::StatusOr<int> Destroy(const RemediationTarget& target) override;

 private:
  LinuxRemediationHost(NamespaceLister lister,
                       std::unique_ptr<NamespaceWorker> worker)
      : lister_(std::move(lister)), worker_(std::move(worker)) {}
  // The handle of the namespace with `inode`, nullopt when none has it.
  absl::StatusOr<std::optional<NetnsEntry>> FindNamespace(uint64_t inode);
  // Sends build(target, seq) on a diag socket created inside the target's
  // namespace and returns the answer; nullopt when the namespace is gone.
  absl::StatusOr<std::optional<SockDiagSingleReply>> AskInNamespace(
      const RemediationTarget& target,
      std::vector<uint8_t> (*build)(const RemediationTarget&, uint32_t));

  NamespaceLister lister_;
  std::unique_ptr<NamespaceWorker> worker_;
};

struct RemediationExecutorOptions {
  // False: every order is REFUSED with `refusal`.
  bool enabled = false;
  std::string refusal = "agent started without --remediation";
  const Clock* clock = Clock::Real();
};

// Runs orders through the re-checks and, if they all pass, destroys the
// socket. Thread-safe: orders are executed one at a time.
class RemediationExecutor {
 public:
  // `host` must outlive the executor; it may be null when !enabled.
  RemediationExecutor(RemediationExecutorOptions options,
                      RemediationHost* host);

  bool enabled() const { return options_.enabled && host_ != nullptr; }
  // Why orders are refused; empty when enabled().
  std::string refusal() const;

  // Always returns an outcome for order.order_id (cut to kMaxOrderIdLength):
  // DESTROYED, ALREADY_GONE, REFUSED (detail says which guard), FAILED
  // (error_number = errno, or 0 when the failure was not the kernel's
  // answer) or WOULD_DESTROY for a dry run that passed every check.
  v1::RemediationOutcome Execute(const v1::RemediationOrder& order);

 private:
  Verdict Decide(const v1::RemediationOrder& order);

  const RemediationExecutorOptions options_;
  RemediationHost* const host_;
  absl::Mutex mu_;  // one order at a time
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_SOCK_DESTROY_H_
