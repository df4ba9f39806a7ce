#include "aggregator/owner.h"

#include "absl/strings/str_cat.h"

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

}  // namespace ghostpeer::aggregator
