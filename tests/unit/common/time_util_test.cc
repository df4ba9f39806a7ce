#include "common/time_util.h"

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

TEST(TimeUtilTest, TimestampRoundTripKeepsNanoseconds) {
  const absl::Time t = absl::FromUnixNanos(1763924400123456789);
  EXPECT_EQ(FromProto(ToProto(t)), t);
}

TEST(TimeUtilTest, TimestampBeforeEpochHasPositiveNanos) {
  const absl::Time t = absl::FromUnixNanos(-1500000000);
  const auto proto = ToProto(t);
  EXPECT_GE(proto.nanos(), 0);
  EXPECT_EQ(FromProto(proto), t);
}

TEST(TimeUtilTest, ParseTimeFlagForms) {
  const absl::Time now = absl::FromUnixSeconds(1000000);
  struct Case {
    const char* name;
    const char* text;
    absl::Time want;
  };
  const Case cases[] = {
      {"relative", "-5m", now - absl::Minutes(5)},
      {"unix", "1763924400", absl::FromUnixSeconds(1763924400)},
      {"rfc3339", "2026-11-23T19:00:00Z", absl::FromUnixSeconds(1795460400)},
  };
  for (const Case& c : cases) {
    auto got = ParseTimeFlag(c.text, now);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(TimeUtilTest, ParseTimeFlagRejectsGarbage) {
  for (const char* bad : {"", "yesterday", "-", "-5parsecs", "12:00"}) {
    auto got = ParseTimeFlag(bad, absl::Now());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace ghostpeer
