#include "aggregator/store_health.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::T;

TEST(StoreHealthTest, Table) {
  struct Write {
    StoreWrite kind;
    bool ok;
  };
  struct Case {
    std::string name;
    std::vector<Write> writes;  // one second apart, from T(0)
    bool writable;
  };
  const std::vector<Case> cases = {
      {"no write yet", {}, true},
      {"ingest ok", {{StoreWrite::kIngest, true}}, true},
      {"ingest failed", {{StoreWrite::kIngest, false}}, false},
      {"ingest failed then succeeded",
       {{StoreWrite::kIngest, false}, {StoreWrite::kIngest, true}},
       true},
      // A purge with nothing to delete succeeds on a full disk: it must not
      // hide that ingest cannot write.
      {"purge success does not clear an ingest failure",
       {{StoreWrite::kIngest, false}, {StoreWrite::kHousekeeping, true}},
       false},
      {"ingest success does not clear a purge failure",
       {{StoreWrite::kHousekeeping, false}, {StoreWrite::kIngest, true}},
       false},
      {"purge failed then succeeded",
       {{StoreWrite::kHousekeeping, false}, {StoreWrite::kHousekeeping, true}},
       true},
      {"both failed, one recovered",
       {{StoreWrite::kIngest, false},
        {StoreWrite::kHousekeeping, false},
        {StoreWrite::kIngest, true}},
       false},
  };
  for (const Case& c : cases) {
    StoreHealth health;
    for (size_t i = 0; i < c.writes.size(); ++i) {
      health.Record(c.writes[i].kind,
                    c.writes[i].ok ? absl::OkStatus()
                                   : absl::UnavailableError("disk full"),
                    T(i));
    }
    const absl::Status writable = health.Writable();
    EXPECT_EQ(writable.ok(), c.writable) << c.name << ": " << writable;
    if (!c.writable) {
      EXPECT_EQ(writable.code(), absl::StatusCode::kUnavailable) << c.name;
    }
  }
}

TEST(StoreHealthTest, SaysSinceWhenAndWhy) {
  StoreHealth health;
  health.Record(StoreWrite::kIngest, absl::UnavailableError("disk full"), T(0));
  health.Record(StoreWrite::kIngest, absl::UnavailableError("disk still full"),
                T(30));
  const absl::Status writable = health.Writable();
  // The run of failures began at T(0); the message is the latest one.
  EXPECT_EQ(std::string(writable.message()),
            "the store cannot write since 2027-01-15T08:00:00.000Z: disk "
            "still full");
}

}  // namespace
}  // namespace ghostpeer::aggregator
