#include "cli/humanize.h"

#include "common/time_util.h"
#include "gtest/gtest.h"

namespace ghostpeer::cli {
namespace {

TEST(HumanizeTest, HumanBytes) {
  struct Case {
    const char* name;
    uint64_t bytes;
    const char* want;
  };
  const Case cases[] = {
      {"zero", 0, "0 B"},
      {"bytes", 1023, "1023 B"},
      {"first kilobyte", 1024, "1.0 KB"},
      {"scenario send-q", 1833, "1.8 KB"},
      {"rounds to one decimal", 9940, "9.7 KB"},
      {"ten and up has no decimal", 10240, "10 KB"},
      {"never 10.0", 10230, "10 KB"},
      {"alert example", 70 * 1024, "70 KB"},
      {"below a megabyte", 999 * 1024, "999 KB"},
      {"rounds into the next unit", 1048064, "1.0 MB"},
      {"megabytes", 1234567, "1.2 MB"},
      {"gigabytes", 3400000000, "3.2 GB"},
      {"max", UINT64_MAX, "16 EB"},
  };
  for (const Case& c : cases) EXPECT_EQ(HumanBytes(c.bytes), c.want) << c.name;
}

TEST(HumanizeTest, CompactDuration) {
  struct Case {
    const char* name;
    absl::Duration span;
    const char* want;
  };
  const Case cases[] = {
      {"zero", absl::ZeroDuration(), "0s"},
      {"subsecond", absl::Milliseconds(999), "0s"},
      {"seconds", absl::Seconds(45), "45s"},
      {"whole minutes", absl::Minutes(3), "3m"},
      {"minutes and seconds", absl::Seconds(200), "3m20s"},
      {"ten minutes drop seconds", absl::Seconds(620), "10m"},
      {"hours", absl::Minutes(125), "2h5m"},
      {"whole hours", absl::Hours(2), "2h"},
      {"days", absl::Hours(76), "3d4h"},
      {"whole days", absl::Hours(48), "2d"},
      {"negative is absolute", -absl::Seconds(45), "45s"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(CompactDuration(c.span), c.want) << c.name;
}

TEST(HumanizeTest, ShortLatency) {
  struct Case {
    const char* name;
    absl::Duration span;
    const char* want;
  };
  const Case cases[] = {
      {"micros", absl::Microseconds(850), "850us"},
      {"millis", absl::Milliseconds(120), "120ms"},
      {"seconds", absl::Milliseconds(1500), "1.5s"},
      {"rto from the scenario", absl::Microseconds(13056000), "13s"},
      {"minutes", absl::Seconds(200), "3m20s"},
  };
  for (const Case& c : cases) EXPECT_EQ(ShortLatency(c.span), c.want) << c.name;
}

TEST(HumanizeTest, Ago) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  struct Case {
    const char* name;
    absl::Time then;
    const char* want;
  };
  const Case cases[] = {
      {"past", now - absl::Minutes(3), "3m ago"},
      {"just now", now - absl::Milliseconds(300), "just now"},
      {"future from clock skew", now + absl::Seconds(5), "in 5s"},
  };
  for (const Case& c : cases) EXPECT_EQ(Ago(c.then, now), c.want) << c.name;
}

TEST(HumanizeTest, ClockTimeShowsTheDateOnlyWhenItDiffers) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time now =
      absl::FromCivil(absl::CivilSecond(2026, 11, 23, 14, 0, 0), utc);
  struct Case {
    const char* name;
    absl::Time time;
    absl::TimeZone zone;
    const char* want;
  };
  const absl::TimeZone plus_ten = absl::FixedTimeZone(10 * 3600);
  const Case cases[] = {
      {"same day", now - absl::Hours(1) - absl::Seconds(56), utc, "12:59:04"},
      {"yesterday", now - absl::Hours(20), utc, "2026-11-22 18:00:00"},
      // 14:00 UTC is 00:00 on the 24th at +10; 12:00 UTC is the 23rd there.
      {"the zone decides the day", now - absl::Hours(2), plus_ten,
       "2026-11-23 22:00:00"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ClockTime(c.time, now, c.zone), c.want) << c.name;
  }
}

TEST(HumanizeTest, TimeOfTreatsTheZeroTimestampAsUnset) {
  EXPECT_FALSE(TimeOf(google::protobuf::Timestamp()).has_value());
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  EXPECT_EQ(TimeOf(ToProto(t)), t);
}

TEST(HumanizeTest, PrintableReplacesControlCharacters) {
  EXPECT_EQ(Printable("evil\x1b[31mred\n\x7f"), "evil?[31mred??");
  EXPECT_EQ(Printable("gpx-srv.1 \u2026"), "gpx-srv.1 \u2026");
}

}  // namespace
}  // namespace ghostpeer::cli
