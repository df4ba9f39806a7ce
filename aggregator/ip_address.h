// Canonical text forms of IP addresses, so that the same peer is the same
// string wherever it was seen (socket records, interface addresses, Docker).
// Pure functions, thread-safe.
#ifndef GHOSTPEER_AGGREGATOR_IP_ADDRESS_H_
#define GHOSTPEER_AGGREGATOR_IP_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ghostpeer::aggregator {

// Parses `text` (IPv4 dotted quad or any IPv6 form inet_pton accepts) and
// returns its canonical form: inet_ntop's output, with an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) shown as the IPv4 address it carries — that is the
// peer a dual-stack socket talks to, and how the agent prints it.
// InvalidArgument for anything else (empty, a prefix "10.0.0.0/24", a zone
// "fe80::1%eth0", surrounding spaces).
absl::StatusOr<std::string> NormalizeIpAddress(absl::string_view text);

// True when `text` already is in the form NormalizeIpAddress returns. Cheap
// for IPv4 (no allocation), so the ingest path can skip rewriting.
bool IsCanonicalIpAddress(absl::string_view text);

// For canonical text: 127.0.0.0/8 and ::1.
bool IsLoopbackIpAddress(absl::string_view canonical);

// For canonical text: 0.0.0.0 and ::.
bool IsUnspecifiedIpAddress(absl::string_view canonical);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_IP_ADDRESS_H_
