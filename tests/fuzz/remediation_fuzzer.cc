// What a remediation order makes the agent parse: the order itself (bytes
// from the aggregator's stream; anyone who took over an aggregator, or a
// bug in one, writes them) and the kernel's answer to the one-socket query
// and the SOCK_DESTROY that follow it. An order must never be turned into a
// request for a socket other than the one it names, and a broken reply must
// never be read past its buffer.
//
// Input: the same bytes as a RemediationOrder (protobuf) and as one receive
// buffer of a sock_diag single reply.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/sock_destroy.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent {
namespace {

constexpr uint32_t kSeq = 7;

// A request built for `target` must ask for exactly its tuple and cookie.
void CheckRequest(const std::vector<uint8_t>& request,
                  const RemediationTarget& target, uint16_t type) {
  FUZZ_CHECK(request.size() ==
             NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_req_v2)));
  nlmsghdr header;
  std::memcpy(&header, request.data(), sizeof(header));
  FUZZ_CHECK(header.nlmsg_len == request.size());
  FUZZ_CHECK(header.nlmsg_type == type);
  FUZZ_CHECK(header.nlmsg_seq == kSeq);
  FUZZ_CHECK((header.nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP);
  inet_diag_req_v2 body;
  std::memcpy(&body, request.data() + NLMSG_HDRLEN, sizeof(body));
  FUZZ_CHECK(ntohs(body.id.idiag_sport) == target.local_port);
  FUZZ_CHECK(ntohs(body.id.idiag_dport) == target.remote_port);
  uint64_t cookie = 0;
  std::memcpy(&cookie, body.id.idiag_cookie, sizeof(cookie));
  FUZZ_CHECK(cookie == target.cookie);
  FUZZ_CHECK(std::memcmp(body.id.idiag_src, target.local.data(),
                         sizeof(body.id.idiag_src)) == 0);
  FUZZ_CHECK(std::memcmp(body.id.idiag_dst, target.remote.data(),
                         sizeof(body.id.idiag_dst)) == 0);
}

void FuzzOrder(const uint8_t* data, size_t size) {
  v1::RemediationOrder order;
  if (!order.ParseFromArray(data, static_cast<int>(size))) return;
  absl::StatusOr<RemediationTarget> target = ParseRemediationOrder(order);
  if (!target.ok()) {
    // A refusal names the field, always as InvalidArgument.
    FUZZ_CHECK(absl::IsInvalidArgument(target.status()));
    FUZZ_CHECK(!target.status().message().empty());
    return;
  }
  FUZZ_CHECK(!target->order_id.empty());
  FUZZ_CHECK(target->netns_inode != 0);
  FUZZ_CHECK(target->inode != 0 && target->cookie != 0);
  FUZZ_CHECK(target->local_port != 0 && target->remote_port != 0);
  FUZZ_CHECK(target->family == AF_INET || target->family == AF_INET6);
  FUZZ_CHECK(fuzz::IsIpLiteral(target->local_ip));
  FUZZ_CHECK(fuzz::IsIpLiteral(target->remote_ip));
  FUZZ_CHECK(fuzz::IsIpLiteral(target->peer_ip));
  // Canonical text is a fixed point.
  FUZZ_CHECK(CanonicalInetAddress(target->peer_ip) == target->peer_ip);
  CheckRequest(BuildSocketQueryRequest(*target, kSeq), *target,
               SOCK_DIAG_BY_FAMILY);
  CheckRequest(BuildSockDestroyRequest(*target, kSeq), *target, SOCK_DESTROY);
}

void FuzzReply(absl::Span<const uint8_t> buffer) {
  SockDiagSingleReply reply;
  // Any seq: a fixed one would file nearly every input as foreign.
  absl::Status status =
      ParseSockDiagSingleReplyInto(buffer, NetlinkExpect{}, &reply);
  if (!status.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(status));
    return;
  }
  if (!reply.complete) {
    FUZZ_CHECK(!reply.record.has_value());
    return;
  }
  // An answer is either an errno or one record, never both.
  FUZZ_CHECK(reply.error >= 0 && reply.error <= 4095);
  if (reply.record.has_value()) {
    FUZZ_CHECK(reply.error == 0);
    FUZZ_CHECK(NLMSG_HDRLEN + sizeof(inet_diag_msg) <= buffer.size());
    fuzz::CheckSocketRecord(*reply.record, v1::CAPTURE_SOURCE_SOCK_DIAG);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::FuzzOrder(data, size);
  ghostpeer::agent::FuzzReply(absl::MakeConstSpan(data, size));
  return 0;
}
