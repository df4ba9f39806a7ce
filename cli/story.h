// Names for the things in a finding, and the one-line story a person reads
// instead of a table row: "gpx-cli.1 on node-1 is writing to
// 10.99.0.2:27017, which belonged to gpx-srv.1 until 12:03:04; 1.8 KB at
// risk". Pure functions; thread-safe.
#ifndef GHOSTPEER_CLI_STORY_H_
#define GHOSTPEER_CLI_STORY_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/names.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::cli {

// "10.0.1.6:27017", "[fd00::6]:27017"; just the address when `port` is 0;
// "-" when `ip` is empty.
std::string Endpoint(absl::string_view ip, uint32_t port);

// ShortTaskName (common/names.h) is part of this vocabulary.
using ::ghostpeer::ShortTaskName;

// Who owns a socket, most specific first: swarm task, container name,
// service, "netns:<inode>", "host" (inode 0 means the node's own
// namespace as far as the record tells).
std::string ClientName(const v1::SocketRecord& socket);

// "logc/4242", "logc", "pid 4242", or "-" when no process was found.
std::string ProcessName(const v1::SocketRecord& socket);

// Who held (or holds) an address: swarm task, container name, service,
// "VIP of <service>", "netns <name>", "host <node>", or the empty string
// when the record names nobody.
std::string OwnerName(const v1::AddressOwner& owner);

struct StoryContext {
  absl::Time now;
  // The zone times are printed in (the person's local zone in the CLI).
  absl::TimeZone zone = absl::UTCTimeZone();
};

// A one-line story composed from the finding's fields (task names
// shortened with ShortTaskName), worded by kind and
// severity (an idle VANISHED_PEER "will lose its next write"; a critical
// one "is writing"), ending in what is at risk and, once resolved, when.
std::string ComposeStory(const v1::Finding& finding,
                         const StoryContext& context);

// The server's story when it sent one (Finding.story), else ComposeStory().
// Control characters are replaced either way.
std::string FindingStory(const v1::Finding& finding,
                         const StoryContext& context);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_STORY_H_
