// Hand-built netlink byte streams for parser tests.
#ifndef GHOSTPEER_TESTS_UNIT_AGENT_NETLINK_BUILDER_H_
#define GHOSTPEER_TESTS_UNIT_AGENT_NETLINK_BUILDER_H_

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace ghostpeer::agent::test {

class NetlinkBuilder {
 public:
  // Starts a message; `payload` is the fixed header (e.g. inet_diag_msg).
  template <typename T>
  NetlinkBuilder& Message(uint16_t type, const T& payload, uint16_t flags = 0,
                          uint32_t seq = 1, uint32_t port_id = 0) {
    return RawMessage(type, &payload, sizeof(payload), flags, seq, port_id);
  }
  NetlinkBuilder& RawMessage(uint16_t type, const void* payload, size_t size,
                             uint16_t flags = 0, uint32_t seq = 1,
                             uint32_t port_id = 0) {
    Align();
    start_ = bytes_.size();
    nlmsghdr header = {};
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = seq;
    header.nlmsg_pid = port_id;
    Append(&header, sizeof(header));
    Append(payload, size);
    Close();
    return *this;
  }
  // Adds an attribute to the current message.
  NetlinkBuilder& Attribute(uint16_t type, const void* data, size_t size) {
    Align();
    nlattr header = {};
    header.nla_len = static_cast<uint16_t>(NLA_HDRLEN + size);
    header.nla_type = type;
    Append(&header, sizeof(header));
    Append(data, size);
    Close();
    return *this;
  }
  NetlinkBuilder& Done(uint32_t seq = 1, int32_t error = 0,
                       uint16_t flags = NLM_F_MULTI) {
    return RawMessage(NLMSG_DONE, &error, sizeof(error), flags, seq);
  }
  NetlinkBuilder& Error(int32_t error, uint32_t seq = 1) {
    nlmsgerr payload = {};
    payload.error = error;
    return RawMessage(NLMSG_ERROR, &payload, sizeof(payload), 0, seq);
  }
  // Sets nlmsg_len of the current message (for malformed cases).
  NetlinkBuilder& OverrideLength(uint32_t length) {
    std::memcpy(bytes_.data() + start_, &length, sizeof(length));
    return *this;
  }
  std::vector<uint8_t> Build() const { return bytes_; }

 private:
  void Append(const void* data, size_t size) {
    const auto* begin = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), begin, begin + size);
  }
  void Align() {
    while (bytes_.size() % 4 != 0) bytes_.push_back(0);
  }
  void Close() {
    const uint32_t length = static_cast<uint32_t>(bytes_.size() - start_);
    std::memcpy(bytes_.data() + start_, &length, sizeof(length));
  }

  std::vector<uint8_t> bytes_;
  size_t start_ = 0;
};

}  // namespace ghostpeer::agent::test

#endif  // GHOSTPEER_TESTS_UNIT_AGENT_NETLINK_BUILDER_H_
