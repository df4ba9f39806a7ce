// What the two ingest fuzz targets share: the aggregator's clock their seeds
// are dated against, and quiet logs.
#ifndef GHOSTPEER_TESTS_FUZZ_INGEST_SUPPORT_H_
#define GHOSTPEER_TESTS_FUZZ_INGEST_SUPPORT_H_

#include "absl/time/time.h"
#include "common/time_util.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/spdlog.h"

namespace ghostpeer::fuzz {

// The seeds (tests/testdata/ingest/) date their events shortly before this
// (2027-01-15T08:00:00Z).
inline absl::Time FuzzNow() { return absl::FromUnixSeconds(1800000000); }

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return FuzzNow(); }
};

// Parse errors and engine warnings are the expected answers to garbage:
// millions of log lines would only slow the run down.
inline void SilenceLogs() {
  google::protobuf::SetLogHandler(nullptr);
  spdlog::set_level(spdlog::level::off);
}

}  // namespace ghostpeer::fuzz

#endif  // GHOSTPEER_TESTS_FUZZ_INGEST_SUPPORT_H_
