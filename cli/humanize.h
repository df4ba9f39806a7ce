// Numbers and times the way a person reads them in a terminal: "1.8 KB",
// "3m ago", "12:03:04". Pure functions of their arguments; thread-safe.
#ifndef GHOSTPEER_CLI_HUMANIZE_H_
#define GHOSTPEER_CLI_HUMANIZE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/human_bytes.h"
#include "common/names.h"
#include "google/protobuf/timestamp.pb.h"

namespace ghostpeer::cli {

// Byte counts as every ghostpeer surface prints them (common/human_bytes.h).
using ::ghostpeer::HumanBytes;

// A non-negative span in its two largest units, compact: "0s", "45s", "3m",
// "3m20s" (under ten minutes the seconds still matter), "2h5m", "3d4h".
// Negative spans are formatted as their absolute value.
std::string CompactDuration(absl::Duration span);

// A short latency: "850us", "120ms", "1.5s", then CompactDuration.
std::string ShortLatency(absl::Duration span);

// How long before `now` `then` was: "3m ago", "just now" (under a second),
// "in 5s" (in the future: clock skew between nodes).
std::string Ago(absl::Time then, absl::Time now);

// A wall-clock time for a table or a story, in `zone`: "12:03:04" when it
// falls on the same calendar day as `now`, "2026-11-23 12:03:04" otherwise.
std::string ClockTime(absl::Time time, absl::Time now, absl::TimeZone zone);

// The time a Timestamp field holds, or nullopt when it is unset (absent, or
// the zero timestamp that proto3 cannot tell from absent).
std::optional<absl::Time> TimeOf(const google::protobuf::Timestamp& timestamp);

// Control characters replaced with '?' (common/names.h).
using ::ghostpeer::Printable;

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_HUMANIZE_H_
