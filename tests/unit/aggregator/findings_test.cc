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

// One socket's detection (socket key fixed, inode `inode`) of `kind`.
DetectedFinding OfSocket(const std::string& id, v1::FindingKind kind,
                         uint64_t inode = 77) {
  DetectedFinding d = Detected(id, v1::WARNING, 0);
  d.finding.set_kind(kind);
  v1::SocketRecord* socket = d.finding.mutable_socket();
  socket->set_node("node-1");
  socket->set_local_ip("10.0.1.8");
  socket->set_local_port(50386);
  socket->set_remote_ip("10.0.1.6");
  socket->set_remote_port(27017);
  socket->set_inode(inode);
  return d;
}

TEST(ReconcileFindingsTest, AKindChangeKeepsTheIdAndSaysSo) {
  FindingMap findings;
  std::vector<FindingChange> changes = ReconcileFindings(
      {OfSocket("s", v1::CLOSE_WAIT_WRITER)}, T(5), &findings);
  EXPECT_EQ(Changes(changes), "s:OPENED");
  EXPECT_EQ(findings["s"].finding.previous_kind(),
            v1::FINDING_KIND_UNSPECIFIED);

  changes =
      ReconcileFindings({OfSocket("s", v1::VANISHED_PEER)}, T(10), &findings);
  EXPECT_EQ(Changes(changes), "s:UPDATED");
  EXPECT_TRUE(changes[0].kind_changed);
  const v1::Finding& f = findings["s"].finding;
  EXPECT_EQ(f.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(f.previous_kind(), v1::CLOSE_WAIT_WRITER);
  EXPECT_EQ(FromProto(f.first_seen()), T(5)) << "one episode";
  EXPECT_NE(f.story().find("reported as a close-wait writer before"),
            std::string::npos)
      << f.story();

  // Later snapshots of the same kind keep saying what it was.
  changes =
      ReconcileFindings({OfSocket("s", v1::VANISHED_PEER)}, T(15), &findings);
  EXPECT_EQ(Changes(changes), "s:silent");
  EXPECT_FALSE(changes[0].kind_changed);
  EXPECT_EQ(findings["s"].finding.previous_kind(), v1::CLOSE_WAIT_WRITER);
  EXPECT_NE(findings["s"].finding.story().find("reported as"),
            std::string::npos);

  // A new episode starts without a past.
  ReconcileFindings({}, T(20), &findings);
  changes =
      ReconcileFindings({OfSocket("s", v1::VANISHED_PEER)}, T(25), &findings);
  EXPECT_EQ(Changes(changes), "s:OPENED");
  EXPECT_EQ(findings["s"].finding.previous_kind(),
            v1::FINDING_KIND_UNSPECIFIED);
}

// Builds before one finding per socket hashed the kind into the id: their
// open findings continue under their ids instead of closing and reopening.
TEST(ReconcileFindingsTest, AnOpenFindingOfAnOlderBuildKeepsItsId) {
  FindingMap findings;
  ReconcileFindings({OfSocket("old-cww", v1::CLOSE_WAIT_WRITER),
                     OfSocket("old-vanished", v1::VANISHED_PEER),
                     OfSocket("other-socket", v1::VANISHED_PEER, 78)},
                    T(5), &findings);
  std::vector<FindingChange> changes =
      ReconcileFindings({OfSocket("new", v1::VANISHED_PEER),
                         OfSocket("other-new", v1::VANISHED_PEER, 78)},
                        T(10), &findings);
  // The same kind is continued; the other one of that socket resolves.
  EXPECT_EQ(Changes(changes),
            "old-cww:CLOSED old-vanished:silent other-socket:silent");
  EXPECT_EQ(findings.count("new"), 0u);
  EXPECT_EQ(findings["old-vanished"].finding.id(), "old-vanished");
  EXPECT_EQ(findings["old-vanished"].memory, "memory of new 0");
  EXPECT_EQ(FromProto(findings["old-vanished"].finding.first_seen()), T(5));

  // Only open findings are continued: a resolved one's socket starts anew.
  ReconcileFindings({}, T(15), &findings);
  changes =
      ReconcileFindings({OfSocket("new", v1::VANISHED_PEER)}, T(20), &findings);
  EXPECT_EQ(Changes(changes), "new:OPENED");
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
