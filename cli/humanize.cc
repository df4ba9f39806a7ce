#include "cli/humanize.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/time_util.h"

namespace ghostpeer::cli {

std::string CompactDuration(absl::Duration span) {
  span = absl::AbsDuration(span);
  const int64_t seconds = absl::ToInt64Seconds(span);
  if (seconds < 60) return absl::StrCat(seconds, "s");
  const int64_t minutes = seconds / 60;
  if (minutes < 10) {
    const int64_t rest = seconds % 60;
    return rest == 0 ? absl::StrCat(minutes, "m")
                     : absl::StrCat(minutes, "m", rest, "s");
  }
  if (minutes < 60) return absl::StrCat(minutes, "m");
  const int64_t hours = minutes / 60;
  if (hours < 24) {
    const int64_t rest = minutes % 60;
    return rest == 0 ? absl::StrCat(hours, "h")
                     : absl::StrCat(hours, "h", rest, "m");
  }
  const int64_t days = hours / 24;
  const int64_t rest = hours % 24;
  return rest == 0 ? absl::StrCat(days, "d")
                   : absl::StrCat(days, "d", rest, "h");
}

std::string ShortLatency(absl::Duration span) {
  span = absl::AbsDuration(span);
  if (span < absl::Milliseconds(1)) {
    return absl::StrCat(absl::ToInt64Microseconds(span), "us");
  }
  if (span < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(span), "ms");
  }
  if (span < absl::Seconds(10)) {
    return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(span));
  }
  return CompactDuration(span);
}

std::string Ago(absl::Time then, absl::Time now) {
  const absl::Duration span = now - then;
  if (absl::AbsDuration(span) < absl::Seconds(1)) return "just now";
  if (span < absl::ZeroDuration())
    return absl::StrCat("in ", CompactDuration(span));
  return absl::StrCat(CompactDuration(span), " ago");
}

std::string ClockTime(absl::Time time, absl::Time now, absl::TimeZone zone) {
  const absl::CivilDay day = absl::ToCivilDay(time, zone);
  if (day == absl::ToCivilDay(now, zone)) {
    return absl::FormatTime("%H:%M:%S", time, zone);
  }
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", time, zone);
}

std::optional<absl::Time> TimeOf(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return std::nullopt;
  return FromProto(timestamp);
}

}  // namespace ghostpeer::cli
