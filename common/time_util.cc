#include "common/time_util.h"

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ghostpeer {

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp out;
  const int64_t nanos = absl::ToUnixNanos(time);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  if (out.nanos() < 0) {
    out.set_seconds(out.seconds() - 1);
    out.set_nanos(out.nanos() + 1000000000);
  }
  return out;
}

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) +
         absl::Nanoseconds(timestamp.nanos());
}

google::protobuf::Duration ToProto(absl::Duration duration) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(duration);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

absl::Duration FromProto(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) +
         absl::Nanoseconds(duration.nanos());
}

std::string FormatTime(absl::Time time) {
  if (time == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text,
                                         absl::Time now) {
  absl::string_view relative = text;
  if (absl::ConsumePrefix(&relative, "-")) {
    absl::Duration ago;
    if (absl::ParseDuration(relative, &ago) && ago >= absl::ZeroDuration()) {
      return now - ago;
    }
  }
  int64_t unix_seconds = 0;
  if (absl::SimpleAtoi(text, &unix_seconds)) {
    return absl::FromUnixSeconds(unix_seconds);
  }
  absl::Time parsed;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &parsed, &error)) return parsed;
  return absl::InvalidArgumentError(absl::StrCat(
      "bad time '", text,
      "': want RFC 3339 (2026-11-23T19:00:00Z), Unix seconds, or -DURATION "
      "(-5m)"));
}

namespace {
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

const Clock* Clock::Real() {
  static const RealClock* const clock = new RealClock();
  return clock;
}

}  // namespace ghostpeer
