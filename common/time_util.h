// Conversions between absl time types and protobuf well-known types.
#ifndef GHOSTPEER_COMMON_TIME_UTIL_H_
#define GHOSTPEER_COMMON_TIME_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace ghostpeer {

google::protobuf::Timestamp ToProto(absl::Time time);
absl::Time FromProto(const google::protobuf::Timestamp& timestamp);
google::protobuf::Duration ToProto(absl::Duration duration);
absl::Duration FromProto(const google::protobuf::Duration& duration);

// RFC 3339 in UTC with milliseconds, "-" for absl::InfinitePast().
std::string FormatTime(absl::Time time);

// Parses RFC 3339 ("2026-11-23T19:00:00Z"), a Unix time in seconds, or a
// time relative to `now` ("-5m", "-2h30m"). InvalidArgument otherwise.
absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text,
                                         absl::Time now);

// A clock that tests can replace.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // The process-wide real clock; never null, never deleted.
  static const Clock* Real();
};

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_TIME_UTIL_H_
