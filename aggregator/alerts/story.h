// The one line a person paged at night reads first: who is writing where,
// who held that address and until when, and what is at risk.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_STORY_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_STORY_H_

#include <string>

#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator::alerts {

// Finding.story when the Engine set one; otherwise composed from the
// finding's fields, e.g. "orders.2 on node-3 is writing to 10.0.1.6:27017,
// which belonged to mongo.1 until 12:03:04; 70 KB at risk" (times in UTC).
// One line: control characters become spaces. Pure; thread-safe.
std::string AlertStory(const v1::Finding& finding);

// Who the client is: task, container name, service, "comm (pid N)", or
// "netns:<inode>". Pure.
std::string ClientLabel(const v1::SocketRecord& socket);

// Who held an address: task, container name, service, netns or host; empty
// when the record names nobody. Pure.
std::string OwnerLabel(const v1::AddressOwner& owner);

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_STORY_H_
