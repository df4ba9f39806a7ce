#include "aggregator/findings.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::T;

DetectedFinding Detected(const std::string& id, v1::Severity severity,
                         uint64_t at_risk) {
  DetectedFinding d;
  d.finding.set_id(id);
  d.finding.set_kind(v1::VANISHED_PEER);
  d.finding.set_severity(severity);
  d.finding.set_status(v1::OPEN);
  d.finding.set_bytes_at_risk(at_risk);
  d.finding.mutable_socket()->set_state(v1::TCP_STATE_CLOSE_WAIT);
  d.memory = absl::StrCat("memory of ", id, " ", at_risk);
  return d;
}

std::string Changes(const std::vector<FindingChange>& changes) {
  std::vector<std::string> parts;
  for (const auto& c : changes) {
    parts.push_back(absl::StrCat(c.id, ":",
                                 c.type == v1::FINDING_EVENT_TYPE_UNSPECIFIED
                                     ? "silent"
                                     : v1::FindingEventType_Name(c.type)));
  }
  return absl::StrJoin(parts, " ");
}

TEST(ReconcileFindingsTest, Lifecycle) {
  FindingMap findings;
  // 1. Evidence appears: OPENED with first/last seen now.
  EXPECT_EQ(Changes(ReconcileFindings({Detected("a", v1::WARNING, 0)}, T(5),
                                      &findings)),
            "a:OPENED");
  EXPECT_EQ(FromProto(findings["a"].finding.first_seen()), T(5));

  // 2. Same evidence: a silent refresh, first_seen kept.
  EXPECT_EQ(Changes(ReconcileFindings({Detected("a", v1::WARNING, 0)}, T(10),
                                      &findings)),
            "a:silent");
  EXPECT_EQ(FromProto(findings["a"].finding.first_seen()), T(5));
  EXPECT_EQ(FromProto(findings["a"].finding.last_seen()), T(10));

  // 3. Severity and bytes change: UPDATED; a second finding opens.
  EXPECT_EQ(Changes(ReconcileFindings({Detected("a", v1::CRITICAL, 700),
                                       Detected("b", v1::WARNING, 0)},
                                      T(15), &findings)),
            "a:UPDATED b:OPENED");
  EXPECT_EQ(findings["a"].memory, "memory of a 700");

  // 4. Evidence of "a" disappears: CLOSED, resolved_at now.
  EXPECT_EQ(Changes(ReconcileFindings({Detected("b", v1::WARNING, 0)}, T(20),
                                      &findings)),
            "a:CLOSED b:silent");
  EXPECT_EQ(findings["a"].finding.status(), v1::RESOLVED);
  EXPECT_EQ(FromProto(findings["a"].finding.resolved_at()), T(20));

  // 5. Still gone: nothing more about "a".
  EXPECT_EQ(Changes(ReconcileFindings({}, T(25), &findings)), "b:CLOSED");

  // 6. It comes back: a new episode under the same id.
  EXPECT_EQ(Changes(ReconcileFindings({Detected("a", v1::WARNING, 0)}, T(30),
                                      &findings)),
            "a:OPENED");
  EXPECT_EQ(findings["a"].finding.status(), v1::OPEN);
  EXPECT_FALSE(findings["a"].finding.has_resolved_at());
  EXPECT_EQ(FromProto(findings["a"].finding.first_seen()), T(30));
}

TEST(ReconcileFindingsTest, ResolveAllAndForget) {
  FindingMap findings;
  ReconcileFindings(
      {Detected("a", v1::WARNING, 0), Detected("b", v1::WARNING, 0)}, T(5),
      &findings);
  ReconcileFindings({Detected("b", v1::WARNING, 0)}, T(10), &findings);
  EXPECT_EQ(Changes(ResolveAll(T(20), &findings)), "b:CLOSED");
  EXPECT_EQ(ForgetResolvedBefore(T(15), &findings), 1u);  // a (at T(10))
  EXPECT_EQ(findings.count("a"), 0u);
  EXPECT_EQ(ForgetResolvedBefore(T(21), &findings), 1u);
  EXPECT_TRUE(findings.empty());
}

}  // namespace
}  // namespace ghostpeer::aggregator
