// Who holds an address: the one definition of owner identity. (How owners
// and clients are named for people: common/story.h.)
#ifndef GHOSTPEER_AGGREGATOR_OWNER_H_
#define GHOSTPEER_AGGREGATOR_OWNER_H_

#include <string>

#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator {

// Two owner records name the same owner iff their (node, kind, container_id,
// netns_inode, netns) match. Everything else (address, names, service, task,
// network, times) describes the owner or the holding and may fill in later —
// Docker answers after the kernel — without making a new owner. Pure.
bool SameOwner(const v1::AddressOwner& a, const v1::AddressOwner& b);

// A string that is equal for two owners iff SameOwner() holds; usable as a
// map key and stable across processes (it is persisted with findings).
std::string OwnerIdentityKey(const v1::AddressOwner& owner);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_OWNER_H_
