// The one place a finding is put into words: names for the things in it,
// and the one-line story a person reads instead of a table row, e.g.
// "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to
// gpx-srv.1 until 12:03:04 UTC; nobody holds it now; 1.8 KB at risk".
//
// The aggregator tells it when it detects a finding (Finding.story, which
// alerts carry as their summary); the CLI shows that story, and tells its
// own only when the server sent none. Pure functions; thread-safe.
#ifndef GHOSTPEER_COMMON_STORY_H_
#define GHOSTPEER_COMMON_STORY_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer {

// When and where a story is told.
struct StoryContext {
  // The moment of telling: a time on the same calendar day is printed
  // without its date.
  absl::Time now;
  // The zone times are printed in: UTC on the aggregator, the person's own
  // zone in the CLI. Every time carries the zone's name either way.
  absl::TimeZone zone = absl::UTCTimeZone();
};

// A time in a story: "12:03:04 UTC" on the day of `context.now`,
// "2026-11-22 12:10:00 UTC" on any other day. The story is stored and
// forwarded (alerts) and read later, next to tables in another zone, so it
// says the day when it is not today and always names its zone.
std::string StoryTime(absl::Time time, const StoryContext& context);

// "10.0.1.6:27017", "[fd00::6]:27017"; just the address when `port` is 0;
// "-" when `ip` is empty.
std::string Endpoint(absl::string_view ip, uint32_t port);

// Who owns a socket, most specific first, for a table column: swarm task,
// container name, service, "netns:<inode>", "host" (inode 0 means the
// node's own namespace as far as the record tells).
std::string ClientName(const v1::SocketRecord& socket);

// Who the client is in a story: the short task or container name (or the
// service) when it runs in a container; otherwise its process, which says
// more than a namespace: "logc (pid 4242) in netns:4026532625".
std::string StoryClient(const v1::SocketRecord& socket);

// "logc/4242", "logc", "pid 4242", or "-" when no process was found.
std::string ProcessName(const v1::SocketRecord& socket);

// Who held (or holds) an address: swarm task, container name, service,
// "VIP of <service>", "netns <name>", "netns inode:<n>", "host <node>", or
// the empty string when the record names nobody.
std::string OwnerName(const v1::AddressOwner& owner);

// The story composed from the finding's fields, with task names shortened
// (ShortTaskName), worded by kind and severity (an idle VANISHED_PEER "will
// lose its next write", a critical one "is writing"), ending in what is at
// risk and, once resolved, when it resolved. A translated socket names the
// VIP and the backend ("writing to db's VIP 10.0.1.2:5432, whose connection
// still goes to 10.0.1.6:5432 (db.1, gone since 12:03:04 UTC)"; "...,
// translated to ..." when nobody owns the address); a UDP socket "sends
// to" its peer and gives its queues instead of bytes at risk; a vanished or
// reassigned peer of a CLOSE_WAIT socket adds that the peer had closed the
// connection; a finding whose kind changed says what it was reported as
// before (previous_kind). A TCP vanished or reassigned peer's story ends
// with what the client's owner should change so that it notices by itself
// next time (RetryAdvice). Not yet made printable.
std::string ComposeStory(const v1::Finding& finding,
                         const StoryContext& context);

// "Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the client so it
// notices by itself: its kernel would otherwise keep retrying for about
// 15m24s": the time computed from the socket's own tcp_info (rto, backoff;
// the kernel's defaults without one) by RemainingRetransmissionTime.
std::string RetryAdvice(const v1::SocketRecord& socket);

// The story to show: Finding.story when the aggregator told one, else
// ComposeStory(); on one line either way, control characters replaced
// (Printable in common/names.h).
std::string FindingStory(const v1::Finding& finding,
                         const StoryContext& context);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_STORY_H_
