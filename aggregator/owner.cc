#include "aggregator/owner.h"

#include "absl/strings/str_cat.h"
#include "common/names.h"

namespace ghostpeer::aggregator {

bool SameOwner(const v1::AddressOwner& a, const v1::AddressOwner& b) {
  return a.kind() == b.kind() && a.netns_inode() == b.netns_inode() &&
         a.node() == b.node() && a.container_id() == b.container_id() &&
         a.netns() == b.netns();
}

std::string OwnerIdentityKey(const v1::AddressOwner& owner) {
  // Field order matches SameOwner; the separator cannot occur in validated
  // names (validation rejects control characters).
  return absl::StrCat(owner.node(), "\x1f", static_cast<int>(owner.kind()),
                      "\x1f", owner.container_id(), "\x1f", owner.netns_inode(),
                      "\x1f", owner.netns());
}

std::string DescribeOwner(const v1::AddressOwner& owner) {
  if (owner.kind() == v1::OWNER_KIND_SWARM_VIP) {
    return absl::StrCat(
        "VIP of ", owner.service().empty() ? "a service" : owner.service());
  }
  if (!owner.task().empty()) return ShortTaskName(owner.task());
  if (!owner.container_name().empty()) {
    return ShortTaskName(owner.container_name());
  }
  if (!owner.service().empty()) return owner.service();
  if (!owner.container_id().empty()) {
    return absl::StrCat("container ", owner.container_id().substr(0, 12));
  }
  if (owner.kind() == v1::OWNER_KIND_HOST) {
    return absl::StrCat("host ", owner.node());
  }
  if (!owner.netns().empty()) return absl::StrCat("netns ", owner.netns());
  return absl::StrCat("netns inode:", owner.netns_inode());
}

std::string DescribeClient(const v1::SocketRecord& socket) {
  std::string process;
  if (!socket.comm().empty() && socket.pid() > 0) {
    process = absl::StrCat(socket.comm(), ", pid ", socket.pid());
  } else if (socket.pid() > 0) {
    process = absl::StrCat("pid ", socket.pid());
  } else if (!socket.comm().empty()) {
    process = socket.comm();
  }
  std::string who;
  if (!socket.task().empty()) {
    who = ShortTaskName(socket.task());
  } else if (!socket.container_name().empty()) {
    who = ShortTaskName(socket.container_name());
  } else if (!socket.container_id().empty()) {
    who = absl::StrCat("container ", socket.container_id().substr(0, 12));
  }
  if (who.empty() && !process.empty()) {
    return socket.pid() > 0 && !socket.comm().empty()
               ? absl::StrCat(socket.comm(), " (pid ", socket.pid(), ")")
               : process;
  }
  if (who.empty()) {
    return absl::StrCat("a socket in netns inode:", socket.netns_inode());
  }
  return process.empty() ? who : absl::StrCat(who, " (", process, ")");
}

}  // namespace ghostpeer::aggregator
