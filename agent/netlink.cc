#include "agent/netlink.h"

#include <linux/netlink.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace ghostpeer::agent {
namespace {

// The kernel reports a failure as a negative errno, at most MAX_ERRNO
// (include/linux/err.h). Any other code is a broken reply, not an errno;
// negating INT32_MIN, the fuzzer's favourite, would even be undefined.
constexpr int32_t kMaxErrno = 4095;

absl::Status KernelError(int32_t error, const char* context) {
  if (error >= 0 || error < -kMaxErrno) {
    return absl::DataLossError(
        absl::StrCat(context, ": netlink error code ", error, " is no errno"));
  }
  return ErrnoToStatus(-error, context);
}

}  // namespace

absl::Status WalkNetlinkMessages(
    absl::Span<const uint8_t> buffer, const NetlinkExpect& expect,
    const char* context,
    const std::function<absl::Status(const NetlinkMessage&)>& on_message,
    NetlinkWalkResult* result) {
  size_t offset = 0;
  while (offset < buffer.size()) {
    const size_t remaining = buffer.size() - offset;
    if (remaining < sizeof(nlmsghdr)) {
      return absl::DataLossError(
          absl::StrCat(context, ": ", remaining, " trailing bytes at offset ",
                       offset, " are shorter than a netlink header"));
    }
    nlmsghdr header;
    std::memcpy(&header, buffer.data() + offset, sizeof(header));
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > remaining) {
      return absl::DataLossError(absl::StrCat(
          context, ": netlink message at offset ", offset, " claims ",
          header.nlmsg_len, " bytes, ", remaining, " left in the buffer"));
    }
    NetlinkMessage message;
    message.type = header.nlmsg_type;
    message.flags = header.nlmsg_flags;
    message.seq = header.nlmsg_seq;
    message.port_id = header.nlmsg_pid;
    message.payload =
        buffer.subspan(offset + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN);
    // The last message of a buffer may omit its alignment padding.
    offset += std::min(NetlinkAlign(header.nlmsg_len), remaining);

    if ((expect.seq != 0 && message.seq != expect.seq) ||
        (expect.port_id != 0 && message.port_id != expect.port_id)) {
      ++result->foreign_messages;
      continue;
    }
    if (message.flags & NLM_F_DUMP_INTR) result->dump_interrupted = true;
    if (message.type == NLMSG_NOOP) continue;
    if (message.type == NLMSG_DONE) {
      // A dump that failed half-way reports its error in the DONE payload.
      int32_t error = 0;
      if (message.payload.size() >= sizeof(error)) {
        std::memcpy(&error, message.payload.data(), sizeof(error));
      }
      if (error < 0) return KernelError(error, context);
      result->done = true;
      return absl::OkStatus();
    }
    if (message.type == NLMSG_ERROR) {
      int32_t error = 0;
      if (message.payload.size() < sizeof(error)) {
        return absl::DataLossError(
            absl::StrCat(context, ": NLMSG_ERROR without an error code"));
      }
      std::memcpy(&error, message.payload.data(), sizeof(error));
      if (error == 0) continue;  // an acknowledgement
      return KernelError(error, context);
    }
    if (message.type == NLMSG_OVERRUN) {
      return absl::DataLossError(absl::StrCat(context, ": NLMSG_OVERRUN"));
    }
    absl::Status status = on_message(message);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

bool WalkAttributes(
    absl::Span<const uint8_t> attributes,
    const std::function<void(uint16_t, absl::Span<const uint8_t>)>&
        on_attribute) {
  size_t offset = 0;
  while (offset + sizeof(nlattr) <= attributes.size()) {
    nlattr header;
    std::memcpy(&header, attributes.data() + offset, sizeof(header));
    const size_t remaining = attributes.size() - offset;
    if (header.nla_len < sizeof(nlattr) || header.nla_len > remaining) {
      return false;
    }
    on_attribute(
        header.nla_type & NLA_TYPE_MASK,
        attributes.subspan(offset + NLA_HDRLEN, header.nla_len - NLA_HDRLEN));
    offset += NetlinkAlign(header.nla_len);
  }
  // Bytes left over that cannot hold a header: a cut-off attribute.
  return offset >= attributes.size();
}

}  // namespace ghostpeer::agent
